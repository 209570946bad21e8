"""tools/gpu_pack_actor.py: an actor's build packed small for a GPU call comes back within its quantisation."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neural_core.contract.shot import FrameRecord, PassInfo, Shot, Transform, pass_path, read_passes, write_shot
from neural_core.contract.shot.exr import write_exr_channels

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import gpu_pack_actor  # noqa: E402

SIZE = 48


def _actor(root: Path, frames=3, far=0.6):
    """A minimal actor folder: actor.json, state/ (with a train record the pack leaves out), build/."""
    rng = np.random.default_rng(0)
    (root / "state").mkdir(parents=True)
    (root / "actor.json").write_text(json.dumps({"format": "neural-face-actor", "note": "test"}))
    for step in ("build", "train"):
        (root / "state" / f"{step}.json").write_text(json.dumps({"step": step, "status": "done"}))
    build = root / "build"
    (build / "targets").mkdir(parents=True)
    (build / "shot" / "passes").mkdir(parents=True)
    passes = {
        "depth": PassInfo(channels=["Z"], space="camera", units="m", source="ViewLayer.Depth"),
        "normal": PassInfo(channels=["X", "Y", "Z"], space="world", units="unit-vector", source="ViewLayer.Normal"),
        "albedo": PassInfo(channels=["R", "G", "B"], space="linear-rgb", units="reflectance", source="ViewLayer.DiffCol"),
        "mask": PassInfo(channels=["X"], space="screen", units="coverage", source="ViewLayer.IndexOB"),
        "regions": PassInfo(channels=["X"], space="screen", units="id", source="ViewLayer.IndexMA"),
    }
    y, x = np.mgrid[:SIZE, :SIZE] / SIZE - 0.5
    inside = x**2 + y**2 < 0.16
    records = []
    for frame in range(1, frames + 1):
        normal = np.stack([x, y, -np.sqrt(np.clip(1 - x**2 - y**2, 0, 1))], axis=-1)
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        channels = {
            "ViewLayer.Depth.Z": np.where(inside, far + 0.1 * (x**2 + y**2) + 0.01 * frame, 1e10),
            "ViewLayer.IndexOB.X": inside.astype(np.float32),
            "ViewLayer.IndexMA.X": np.where(inside, 1 + (y > 0) + 2 * (x > 0.1), 0),
        }
        channels.update({f"ViewLayer.Normal.{c}": np.where(inside, normal[..., i], 0) for i, c in enumerate("XYZ")})
        channels.update({f"ViewLayer.DiffCol.{c}": rng.uniform(0.02, 0.9, (SIZE, SIZE)) * inside for c in "RGB"})
        write_exr_channels(pass_path(build / "shot", frame), channels)
        image = (rng.uniform(0, 1, (SIZE // 8, SIZE // 8, 3)) * 255).astype(np.uint8)
        Image.fromarray(image).resize((SIZE, SIZE), Image.BILINEAR).save(build / "targets" / f"{frame:04d}.png")
        turn = Transform(rotation=np.eye(3), translation=np.zeros(3))
        records.append(FrameRecord(frame=frame, coefficients=[0.1 * frame, 0.5], head_world=turn, head_camera=turn, joints={},
                                   K=np.array([[60.0, 0, SIZE / 2], [0, 60.0, SIZE / 2], [0, 0, 1]]), world_to_camera=np.eye(4)))
    write_shot(build / "shot", Shot(fps=24.0, resolution=(SIZE, SIZE), pixel_aspect=1.0, rig_profile="arkit52",
                                    coefficient_names=["jawOpen", "eyeBlinkLeft"], frames=records, passes=passes,
                                    render={"mask_pass_index": 1}))
    (build / "frames.json").write_text(json.dumps({"frames": [{"appearance": [0.5]}] * frames}))
    return root


def test_a_packed_actor_unpacks_to_the_same_training_inputs_within_the_quantisation(tmp_path):
    actor = _actor(tmp_path / "actor")
    gpu_pack_actor.main(["pack", str(actor), str(tmp_path / "pack")])
    assert not (tmp_path / "pack" / "state" / "train.json").exists()  # the unpacked actor trains a run of its own
    gpu_pack_actor.main(["unpack", str(tmp_path / "pack"), str(tmp_path / "copy")])
    copy = tmp_path / "copy"
    assert (copy / "actor.json").read_text() == (actor / "actor.json").read_text()
    assert sorted(p.name for p in (copy / "state").iterdir()) == ["build.json"]
    for name in ("shot/shot.json", "frames.json"):
        assert (copy / "build" / name).read_bytes() == (actor / "build" / name).read_bytes()
    for frame in (1, 2, 3):
        before, after = read_passes(actor / "build" / "shot", frame), read_passes(copy / "build" / "shot", frame)
        hit = np.isfinite(before["depth"])
        assert np.array_equal(hit, np.isfinite(after["depth"]))
        np.testing.assert_allclose(after["depth"][hit], before["depth"][hit], atol=0.5e-4 + 1e-6)
        np.testing.assert_allclose(after["normal"], before["normal"], atol=1 / 127)  # rounded, then renormalised
        np.testing.assert_allclose(after["albedo"], before["albedo"], atol=0.01)
        assert np.array_equal(after["mask"], before["mask"]) and np.array_equal(after["regions"], before["regions"])
        target = f"targets/{frame:04d}.png"
        a, b = (np.asarray(Image.open(root / "build" / target), dtype=np.float32) for root in (actor, copy))
        assert np.abs(a - b).mean() < 3.0  # JPEG quality 95, chroma halved (these blocks of colour: 2.3)


def test_a_depth_the_pack_cannot_hold_is_refused(tmp_path):
    actor = _actor(tmp_path / "actor", frames=1, far=7.0)
    with pytest.raises(SystemExit, match="depth outside"):
        gpu_pack_actor.main(["pack", str(actor), str(tmp_path / "pack")])
