"""neural_core.evaluation.default_model.evaluate end to end on tiny sample folders and a
tiny model (the face analysis replaced by a stand-in: MediaPipe lives in .venv-eval)."""

import json

import numpy as np
import torch
from PIL import Image

from neural_core.evaluation import default_model
from neural_core.face_model import ConditionalModel, save_conditional
from neural_core.face_model.config import tiny_config
from tests.core.test_train_loop import NAMES, SIZE, write_sample_folder


def _model(path):
    torch.manual_seed(0)
    model = ConditionalModel(tiny_config(NAMES, appearance_dim=2, resolution=SIZE))
    save_conditional(model, path)
    return path


def _fake_analysis(seen):
    """A run_analysis stand-in: no landmarks, an embedding that grows with the image's brightness."""

    def run(folder):
        result = {}
        for path in sorted(folder.glob("*.png")):
            seen.append(path.name)
            brightness = float(np.asarray(Image.open(path)).mean())
            result[path.name] = {"landmarks": None, "embedding": [brightness / 255] * 128, "dlib_detected": False}
        return result

    return run


def test_evaluate_gives_every_row_from_the_sample_folders(tmp_path, monkeypatch):
    model = _model(tmp_path / "tiny.safetensors")
    write_sample_folder(tmp_path / "heldout" / "chunk_00000", frames=3, seed=1)
    write_sample_folder(tmp_path / "heldout" / "chunk_00001", frames=2, seed=2)
    shot = write_sample_folder(tmp_path / "shot", frames=5, seed=3)
    notes = json.loads((shot / "frames.json").read_text())
    notes["held_frames"] = [3, 4]
    (shot / "frames.json").write_text(json.dumps(notes))
    seen = []
    monkeypatch.setattr(default_model, "run_analysis", _fake_analysis(seen))

    rows = default_model.evaluate(model, tmp_path / "heldout", shot, tmp_path / "sheet.png", threads=1)

    table = {row[0]: row[1:] for row in rows}
    assert table["held-out PSNR (head mask)"][1] == "5 frames"
    assert table["shot PSNR vs its Cycles renders (head mask)"][1] == "5 frames"
    assert table["face found: shot (its renders) / held-out (targets)"][0] == "0% (0%) / 0% (0%)"
    assert table["identity distance between frames of the shot, median of all pairs (its renders)"][1] == "10 pairs"
    assert table["same input twice: bit-identical"][0] == "yes"
    assert table["held frames: max change"][1] == "frames 3-4"
    assert float(table["held frames: max change"][0]) > 0  # these frames' inputs differ
    assert any(name.startswith("one frame, 32 px") for name in table)
    # what the analysis saw: 5 shot frames, their 5 renders, 4 seeds, 5 held-out outputs and targets
    prefixes = [name.rsplit("_", 1)[0] for name in seen]
    assert {p: prefixes.count(p) for p in set(prefixes)} == {"shot": 5, "shottarget": 5, "seed": 4, "heldout": 5, "target": 5}
    sheet = np.asarray(Image.open(tmp_path / "sheet.png"))
    assert sheet.shape == (3 * 128, 2 * 5 * 128 + 8, 3)  # 5 frames, two per row, the last row padded


def test_a_plain_shot_folder_has_no_renders_and_finds_its_held_frames(tmp_path, monkeypatch):
    model = _model(tmp_path / "tiny.safetensors")
    write_sample_folder(tmp_path / "heldout" / "chunk_00000", frames=2, seed=1)
    write_sample_folder(tmp_path / "sample", frames=3, seed=3)
    monkeypatch.setattr(default_model, "run_analysis", lambda folder: None)

    rows = default_model.evaluate(model, tmp_path / "heldout", tmp_path / "sample" / "shot", threads=1)

    table = {row[0]: row[1:] for row in rows}
    assert "shot PSNR vs its Cycles renders (head mask)" not in table
    assert table["face found"] == ("not measured", "no .venv-eval", "-")
    assert table["held frames: max change"][0] == "n/a"  # every frame of this shot differs
