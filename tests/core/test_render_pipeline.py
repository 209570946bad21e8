"""``python -m neural_core render``: outputs, resume, determinism, cancel, kill, bad input."""

import json
import os
import signal
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from neural_core.contract.frames import parse_frame_spec
from neural_core.contract.frames import frame_file_name
from neural_core.worker.images import encode_png, srgb_to_linear
from neural_core.contract.errors import NeuralFaceError
from tests.conftest import ROOT
from tests.core.synthetic_shot import COEFFICIENTS, make_shot, pass_channels, write_shot_folder

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from neural_core.face_model.checkpoint import save_conditional
    from neural_core.face_model.config import tiny_config
    from neural_core.face_model.model import ConditionalModel

    torch.manual_seed(0)
    model = ConditionalModel(tiny_config(coefficient_names=COEFFICIENTS[:2]))
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_conditional(model, path)
    return path


def run_render(shot, out, model, *extra, timeout=120):
    command = [sys.executable, "-m", "neural_core", "render", str(shot), "--out", str(out), "--model", str(model),
               "--json", "--device", "cpu", *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result, events


def test_renders_every_frame_with_blender_padding_and_alpha_from_the_mask(tmp_path, tiny_model):
    shot = write_shot_folder(tmp_path / "shot", n_frames=3)
    result, events = run_render(tmp_path / "shot", tmp_path / "out", tiny_model)
    assert result.returncode == 0, result.stderr
    assert [e["event"] for e in events][0] == "start" and events[-1]["event"] == "done"
    assert events[-1]["status"] == "ok" and events[-1]["done"] == 3
    names = sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".png")
    assert names == ["neural_0001.png", "neural_0002.png", "neural_0003.png"]
    image = np.asarray(Image.open(tmp_path / "out" / "neural_0001.png"))
    width, height = shot.resolution
    assert image.shape == (height, width, 4)
    mask = pass_channels(shot)["ViewLayer.IndexOB.X"]
    assert np.array_equal(image[..., 3], np.rint(mask * 255).astype(np.uint8))
    assert not any(p.name.startswith(".") for p in (tmp_path / "out").iterdir())


def test_rerun_skips_current_frames_and_rerenders_changed_ones(tmp_path, tiny_model):
    write_shot_folder(tmp_path / "shot", n_frames=3)
    run_render(tmp_path / "shot", tmp_path / "out", tiny_model)
    first = (tmp_path / "out" / "neural_0002.png").read_bytes()
    result, events = run_render(tmp_path / "shot", tmp_path / "out", tiny_model)
    assert [e["skipped"] for e in events if e["event"] == "frame"] == [True, True, True]
    # change frame 2's coefficients only: just frame 2 is rendered again
    values = [[0.0, 0.5, 0.0], [0.9, 0.1, 0.05], [0.2, 0.5, 0.1]]
    write_shot_folder(tmp_path / "shot", make_shot(n_frames=3, coefficient_values=values))
    result, events = run_render(tmp_path / "shot", tmp_path / "out", tiny_model)
    assert [e["skipped"] for e in events if e["event"] == "frame"] == [True, False, True]
    assert (tmp_path / "out" / "neural_0002.png").read_bytes() != first
    result, events = run_render(tmp_path / "shot", tmp_path / "out", tiny_model, "--force")
    assert [e["skipped"] for e in events if e["event"] == "frame"] == [False, False, False]


def test_constant_input_gives_bit_identical_frames(tmp_path, tiny_model):
    values = [[0.3, 0.2, 0.0]] * 3
    shot = make_shot(n_frames=3, coefficient_values=values)
    write_shot_folder(tmp_path / "shot", shot)
    # frames 1 and 3 share pass files' content (index % 2), so their inputs are identical
    result, _ = run_render(tmp_path / "shot", tmp_path / "out", tiny_model)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out/neural_0001.png").read_bytes() == (tmp_path / "out/neural_0003.png").read_bytes()
    assert (tmp_path / "out/neural_0001.png").read_bytes() != (tmp_path / "out/neural_0002.png").read_bytes()


def test_sub_range_with_smoothing_equals_the_full_render(tmp_path, tiny_model):
    spike = [[0.0, 0.5, 0.0], [0.0, 0.5, 0.0], [1.0, 0.5, 0.0], [0.0, 0.5, 0.0], [0.0, 0.5, 0.0]]
    write_shot_folder(tmp_path / "shot", make_shot(n_frames=5, coefficient_values=spike))
    run_render(tmp_path / "shot", tmp_path / "full", tiny_model, "--smoothing", "1.5")
    run_render(tmp_path / "shot", tmp_path / "part", tiny_model, "--smoothing", "1.5", "--frames", "3-4")
    assert sorted(p.name for p in (tmp_path / "part").glob("*.png")) == ["neural_0003.png", "neural_0004.png"]
    for name in ("neural_0003.png", "neural_0004.png"):
        assert (tmp_path / "part" / name).read_bytes() == (tmp_path / "full" / name).read_bytes()
    run_render(tmp_path / "shot", tmp_path / "raw", tiny_model)
    assert (tmp_path / "raw/neural_0003.png").read_bytes() != (tmp_path / "full/neural_0003.png").read_bytes()


def test_exr_is_linear_half_with_premultiplied_alpha_and_png16_decodes(tmp_path, tiny_model):
    import OpenEXR

    write_shot_folder(tmp_path / "shot", n_frames=1)
    run_render(tmp_path / "shot", tmp_path / "png", tiny_model, "--depth", "16")
    result, _ = run_render(tmp_path / "shot", tmp_path / "exr", tiny_model, "--format", "exr")
    assert result.returncode == 0, result.stderr
    channels = OpenEXR.File(str(tmp_path / "exr/neural_0001.exr"), separate_channels=True).channels()
    assert {"R", "G", "B", "A"} <= set(channels)
    assert channels["R"].pixels.dtype == np.float16
    png16 = decode_png((tmp_path / "png/neural_0001.png").read_bytes()).astype(np.float32) / 65535.0
    alpha = png16[..., 3]
    expected = srgb_to_linear(png16[..., :3]) * alpha[..., None]
    got = np.stack([channels[c].pixels.astype(np.float32) for c in "RGB"], axis=-1)
    assert np.abs(got - expected).max() < 2e-3  # half precision
    assert np.array_equal(channels["A"].pixels.astype(np.float32) > 0.5, alpha > 0.5)


def decode_png(data):
    """Minimal decoder for the files encode_png writes (RGBA, 8 or 16 bit, filter 0 or 2, one IDAT)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        chunks[kind] = data[position + 8:position + 8 + length]
        position += 12 + length
    width, height = int.from_bytes(chunks[b"IHDR"][:4], "big"), int.from_bytes(chunks[b"IHDR"][4:8], "big")
    depth, colour_type = chunks[b"IHDR"][8:10]
    assert colour_type == 6 and depth in (8, 16)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + width * depth // 2)
    assert set(raw[:, 0]) <= {0, 2}
    rows = raw[:, 1:].copy()
    for y in range(1, height):
        if raw[y, 0] == 2:  # Up
            rows[y] = rows[y] + rows[y - 1]  # uint8 wraps modulo 256
    if depth == 8:
        return rows.reshape(height, width, 4)
    return rows.view(">u2").reshape(height, width, 4).astype(np.uint16)


def test_png_round_trips_at_8_and_16_bits_and_pillow_reads_the_8_bit_files(tmp_path):
    rng = np.random.default_rng(0)
    values16 = rng.integers(0, 65536, size=(7, 5, 4), dtype=np.uint16)
    assert np.array_equal(decode_png(encode_png(values16)), values16)
    values8 = rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)
    assert np.array_equal(decode_png(encode_png(values8)), values8)
    (tmp_path / "x.png").write_bytes(encode_png(values8))
    with Image.open(tmp_path / "x.png") as image:
        assert image.mode == "RGBA" and np.array_equal(np.asarray(image), values8)
    with pytest.raises(ValueError, match="uint8/uint16"):
        encode_png(values8[..., :3])


def test_frame_names_and_specs():
    assert frame_file_name("neural_####", 7, ".png") == "neural_0007.png"
    assert frame_file_name("shot_##_v#", 12, ".exr") == "shot_##_v12.exr"
    assert frame_file_name("plain_", 3, ".png") == "plain_0003.png"
    assert parse_frame_spec("2-3,5", range(1, 6)) == [2, 3, 5]
    assert parse_frame_spec(None, [1, 2]) == [1, 2]
    with pytest.raises(NeuralFaceError, match="no frame 9"):
        parse_frame_spec("8-9", range(1, 9))
    with pytest.raises(NeuralFaceError, match="cannot read"):
        parse_frame_spec("a-b", range(1, 9))


def _start(shot, out, model, *extra):
    command = [sys.executable, "-m", "neural_core", "render", str(shot), "--out", str(out), "--model", str(model),
               "--json", "--device", "cpu", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _wait_for_frames(process, count):
    seen = 0
    for line in process.stdout:
        if line.startswith("{") and json.loads(line)["event"] == "frame":
            seen += 1
            if seen >= count:
                return


def test_sigkill_mid_shot_then_rerun_equals_an_uninterrupted_run(tmp_path, tiny_model):
    write_shot_folder(tmp_path / "shot", n_frames=30)
    run_render(tmp_path / "shot", tmp_path / "clean", tiny_model)
    process = _start(tmp_path / "shot", tmp_path / "killed", tiny_model)
    _wait_for_frames(process, 3)
    process.kill()
    process.wait(timeout=30)
    made = sorted(p.name for p in (tmp_path / "killed").glob("*.png"))
    assert 3 <= len(made) < 30
    result, events = run_render(tmp_path / "shot", tmp_path / "killed", tiny_model)
    assert result.returncode == 0, result.stderr
    assert sum(e["skipped"] for e in events if e["event"] == "frame") >= 3
    for clean in sorted((tmp_path / "clean").glob("*.png")):
        assert (tmp_path / "killed" / clean.name).read_bytes() == clean.read_bytes(), clean.name
    assert not [p for p in (tmp_path / "killed").iterdir() if p.name.startswith(".")]


def test_sigterm_cancels_after_a_complete_frame(tmp_path, tiny_model):
    write_shot_folder(tmp_path / "shot", n_frames=30)
    process = _start(tmp_path / "shot", tmp_path / "out", tiny_model)
    _wait_for_frames(process, 2)
    process.send_signal(signal.SIGTERM)
    rest = process.stdout.read()
    assert process.wait(timeout=30) == 3
    done = [json.loads(l) for l in rest.splitlines() if l.startswith("{")][-1]
    assert done["event"] == "done" and done["status"] == "cancelled"
    written = sorted((tmp_path / "out").glob("*.png"))
    assert 2 <= len(written) < 30
    for path in written:
        Image.open(path).load()  # every file left is a complete image
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_user_stylegan2_checkpoint_renders_with_the_rig_mask(tmp_path):
    shot = write_shot_folder(tmp_path / "shot", n_frames=2)
    checkpoint = ROOT / "tests/data/stylegan2/rosinality_s32.pt"
    result, events = run_render(tmp_path / "shot", tmp_path / "out", checkpoint, "--appearance", "3")
    assert result.returncode == 0, result.stderr
    start = events[0]
    assert start["model"]["kind"] == "generator" and start["model"]["resolution"] == 32
    image = np.asarray(Image.open(tmp_path / "out/neural_0001.png"))
    assert image.shape == (shot.resolution[1], shot.resolution[0], 4)
    assert image[..., :3].std() > 1.0  # a picture, not a flat colour


def _error(events):
    errors = [e for e in events if e["event"] == "error"]
    assert len(errors) == 1, events
    return errors[0]


def test_bad_model_files_are_refused_clearly(tmp_path, tiny_model):
    write_shot_folder(tmp_path / "shot", n_frames=1)
    result, events = run_render(tmp_path / "shot", tmp_path / "out", tmp_path / "missing.safetensors")
    assert result.returncode == 2 and "model file not found" in _error(events)["message"]
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(tiny_model.read_bytes()[: len(tiny_model.read_bytes()) // 2])
    result, events = run_render(tmp_path / "shot", tmp_path / "out", corrupt)
    assert result.returncode == 2 and str(corrupt) in _error(events)["message"]


def test_bad_shots_are_refused_naming_file_frame_and_field(tmp_path, tiny_model):
    shot = make_shot(n_frames=2)
    write_shot_folder(tmp_path / "newer", shot)
    data = json.loads((tmp_path / "newer/shot.json").read_text())
    data["version"] = 99
    (tmp_path / "newer/shot.json").write_text(json.dumps(data))
    result, events = run_render(tmp_path / "newer", tmp_path / "out", tiny_model)
    assert result.returncode == 2 and "newer" in _error(events)["message"] and _error(events)["field"] == "version"

    write_shot_folder(tmp_path / "nopass", shot)
    os.remove(tmp_path / "nopass/passes/0002.exr")
    result, events = run_render(tmp_path / "nopass", tmp_path / "out", tiny_model)
    assert result.returncode == 2 and _error(events)["frame"] == 2 and "0002.exr" in _error(events)["message"]

    write_shot_folder(tmp_path / "size", shot)
    data = json.loads((tmp_path / "size/shot.json").read_text())
    data["resolution"] = [32, 32]
    (tmp_path / "size/shot.json").write_text(json.dumps(data))
    result, events = run_render(tmp_path / "size", tmp_path / "out", tiny_model)
    assert result.returncode == 2 and "32x32" in _error(events)["message"]

    write_shot_folder(tmp_path / "nan", shot)
    text = (tmp_path / "nan/shot.json").read_text()
    data = json.loads(text)
    data["frames"][1]["coefficients"][0] = "NaN-marker"
    (tmp_path / "nan/shot.json").write_text(json.dumps(data).replace('"NaN-marker"', "NaN"))
    result, events = run_render(tmp_path / "nan", tmp_path / "out", tiny_model)
    error = _error(events)
    assert result.returncode == 2 and error["frame"] == 2 and error["field"] == "coefficients"


def test_a_sub_range_needs_only_its_own_pass_files(tmp_path, tiny_model):
    # issue 13.12: --frames 1-6 was refused because frame 7's pass file was missing
    write_shot_folder(tmp_path / "shot", n_frames=3)
    os.remove(tmp_path / "shot/passes/0003.exr")
    result, events = run_render(tmp_path / "shot", tmp_path / "out", tiny_model, "--frames", "1-2")
    assert result.returncode == 0, result.stderr
    assert [e["frame"] for e in events if e["event"] == "frame"] == [1, 2]
    result, events = run_render(tmp_path / "shot", tmp_path / "out", tiny_model, "--frames", "2-3")
    error = _error(events)
    assert result.returncode == 2 and error["frame"] == 3 and "0003.exr" in error["message"]
    assert "pass file missing" in error["message"]


def test_a_truncated_pass_file_is_one_error_event_and_nothing_else(tmp_path, tiny_model):
    # issue 13.12: OpenEXR printed three lines of its own around the error
    shot = make_shot(n_frames=2, size=(64, 64))
    write_shot_folder(tmp_path / "shot", shot)
    path = tmp_path / "shot/passes/0002.exr"
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    result, events = run_render(tmp_path / "shot", tmp_path / "out", tiny_model)
    error = _error(events)
    assert result.returncode == 2 and error["frame"] == 2 and "0002.exr" in error["message"]
    assert "truncated or corrupt" in error["message"]
    assert "EXR_ERR" not in result.stderr and "Warning" not in result.stderr, result.stderr
    assert all(line.startswith("{") for line in result.stdout.splitlines())


def test_a_stepped_shot_renders_the_frames_of_a_range(tmp_path, tiny_model):
    shot = make_shot(n_frames=3)
    for record, number in zip(shot.frames, (1, 3, 5)):
        record.frame = number
    shot.frame_step = 2
    write_shot_folder(tmp_path / "shot", shot)
    result, events = run_render(tmp_path / "shot", tmp_path / "out", tiny_model, "--frames", "2-6")
    assert result.returncode == 0, result.stderr
    assert events[0]["frames"] == [3, 5]
    result, events = run_render(tmp_path / "shot", tmp_path / "out", tiny_model, "--frames", "4")
    assert result.returncode == 2 and "no frame 4 (it has frames 1-5 in steps of 2)" in _error(events)["message"]


def test_human_mode_says_where_the_frames_went(tmp_path, tiny_model):
    # issue 13.12: without --json (stdout a terminal) the worker never said where its files were
    import pty

    write_shot_folder(tmp_path / "shot", n_frames=2)
    master, slave = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "neural_core", "render", str(tmp_path / "shot"), "--model", str(tiny_model),
             "--device", "cpu"], stdout=slave, stderr=subprocess.PIPE, text=True, timeout=120, cwd=ROOT)
    finally:
        os.close(slave)
        os.close(master)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "shot" / "neural"  # the default output folder
    lines = result.stderr.splitlines()
    assert f"render: 2 frame(s) -> {out}" in lines
    assert lines[-1].startswith("render: ok: 2/2 frame(s) in ")
    assert lines[-1].endswith(f" s; files: {out / 'neural_0001.png'} .. neural_0002.png")
    assert (out / "neural_0002.png").is_file()


def test_unwritable_output_folder_is_refused(tmp_path, tiny_model):
    write_shot_folder(tmp_path / "shot", n_frames=1)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result, events = run_render(tmp_path / "shot", blocker / "out", tiny_model)
    assert result.returncode == 2 and "not writable" in _error(events)["message"]
    if os.geteuid() != 0:  # root ignores permission bits
        readonly = tmp_path / "readonly"
        readonly.mkdir()
        readonly.chmod(0o555)
        result, events = run_render(tmp_path / "shot", readonly, tiny_model)
        assert result.returncode == 2 and "not writable" in _error(events)["message"]


def test_appearance_seed_0_is_the_median_look_and_other_seeds_draw_from_the_prior(tiny_model):
    from neural_core.worker.model import FaceModel

    median = FaceModel(tiny_model, device="cpu", appearance_seed=0)
    assert not median.z.any()
    drawn = [FaceModel(tiny_model, device="cpu", appearance_seed=seed).z for seed in (1, 2, 1)]
    assert drawn[0].abs().sum() > 0 and not torch.equal(drawn[0], drawn[1]) and torch.equal(drawn[0], drawn[2])
