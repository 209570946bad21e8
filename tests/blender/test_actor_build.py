"""blender_addon/dataset/actor_build.py: an actor's sample folder from a fit shot and photo crops.

The fit shot is made the way the real fitter's contract describes it, through the
exporter with passes off: the bundled head with an identity, expressions, neck/jaw/eye
bones and a moving head, seen by a moving camera whose principal point is off-centre.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import bpy
from blender_addon.core_link import protocol
from blender_addon.core_link import shot as shot_format
from blender_addon.core_link import shot_passes
from blender_addon.dataset import actor_build
from blender_addon.dataset.actor_build import BuildSettings, build_actor
from blender_addon.dataset.actor_stage import camera_settings
from blender_addon.export import camera as camera_model

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
CROP = 128  # crop side, pixels
IDENTITY = {"id_00": 0.6, "id_05": -0.4, "id_12": 0.3, "id_25": 0.5}
POSES = [  # per frame: expression, bone rotations (Euler XYZ, radians), head place, camera yaw
    ({"jawOpen": 0.1}, {}, ((0, 0, 0), (0, 0, 0)), 0.0),
    ({"jawOpen": 0.7, "eyeBlinkLeft": 1.0, "mouthSmileRight": 0.5},
     {"jaw": (0.15, 0, 0), "eye.L": (0.1, 0, 0.2), "eye.R": (0.1, 0, 0.2)}, ((0.02, 0.01, -0.01), (0, 0, 0.3)), 0.2),
    ({"browInnerUp": 0.8}, {"neck": (0.1, 0.15, 0.05), "eye.L": (-0.1, 0, -0.1)}, ((-0.02, 0, 0.01), (0.1, 0, -0.4)), -0.15),
    ({}, {}, ((0, 0, 0), (0, 0, 0)), 0.0),  # frame 4: no crop
]


def make_fit_shot(folder):
    """A coefficient-only shot of 4 frames at CROP px, exported from a keyed bundled head."""
    from blender_addon.dataset.chunk import head_scene, place_camera
    from blender_addon.export.exporter import ExportSettings, export_shot

    scene, head, camera, centre = head_scene(CROP)
    scene.frame_start, scene.frame_end = 1, len(POSES)
    blocks = head.mesh.data.shape_keys.key_blocks
    for name, value in IDENTITY.items():
        blocks[name].value = value
    camera.data.shift_x, camera.data.shift_y = 0.04, -0.03  # principal point off-centre
    for frame, (expression, bones, (location, rotation), yaw) in enumerate(POSES, start=1):
        for name in ("jawOpen", "eyeBlinkLeft", "mouthSmileRight", "browInnerUp"):
            blocks[name].value = expression.get(name, 0.0)
            blocks[name].keyframe_insert("value", frame=frame)
        for bone in ("neck", "jaw", "eye.L", "eye.R"):
            pose_bone = head.armature.pose.bones[bone]
            pose_bone.rotation_euler = bones.get(bone, (0, 0, 0))
            pose_bone.keyframe_insert("rotation_euler", frame=frame)
        head.armature.location, head.armature.rotation_euler = location, rotation
        head.armature.keyframe_insert("location", frame=frame)
        head.armature.keyframe_insert("rotation_euler", frame=frame)
        place_camera(camera, {"yaw": yaw, "pitch": 0.05, "offset": (0.0, 0.0), "distance": 0.55, "roll": 0.02,
                              "lens": 55.0}, centre)
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)
    export_shot(scene, ExportSettings(output=str(folder), passes=False))
    return shot_format.read_shot(folder, check_passes=False)


def write_crops(folder, fit):
    """Crops for frames 1-3 (frame 4 has none): the fitted landmarks drawn on a gradient;
    frame 2's crop is RGBA, whose alpha the target drops."""
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:CROP, 0:CROP]
    for record in fit.frames[:3]:
        image = np.stack([x * 2, y * 2, np.full_like(x, 40 * record.frame)], axis=-1).astype(np.uint8)
        points = np.clip(record.landmarks.astype(int), 0, CROP - 1)
        image[points[:, 1], points[:, 0]] = 255
        if record.frame == 2:
            alpha = np.full((CROP, CROP, 1), 128, np.uint8)
            Image.fromarray(np.concatenate([image, alpha], axis=-1), "RGBA").save(folder / "0002.png")
        else:
            Image.fromarray(image, "RGB").save(folder / f"{record.frame:04d}.png")


class Events(protocol.Reporter):
    def __init__(self):
        self.events = []

    def emit(self, event, **fields):
        self.events.append({"event": event, **fields})

    def of(self, kind):
        return [e for e in self.events if e["event"] == kind]


def run_build(settings):
    """(exit code, Events) of one in-process build."""
    events = Events()
    with protocol.Job("actor-build", events) as job:
        build_actor(settings, job)
    return job.exit_code, events


@pytest.fixture
def actor(tmp_path):
    """(fit Shot, BuildSettings at 64 px, 1 sample)."""
    fit = make_fit_shot(tmp_path / "fit" / "shot")
    write_crops(tmp_path / "fit" / "crops", fit)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    settings = BuildSettings(shot=str(tmp_path / "fit" / "shot"), crops=str(tmp_path / "fit" / "crops"),
                             out=str(tmp_path / "build"), samples=1, resolution=64)
    return fit, settings


def test_camera_settings_give_back_the_fitted_intrinsics():
    from types import SimpleNamespace

    K = np.array([[700.0, 0.0, 240.5], [0.0, 700.0, 281.25], [0.0, 0.0, 1.0]])
    lens, shift_x, shift_y = camera_settings(K, 512, 512)
    data = SimpleNamespace(type="PERSP", name="Camera", lens=lens, sensor_width=36.0, sensor_height=24.0,
                           sensor_fit="HORIZONTAL", shift_x=shift_x, shift_y=shift_y)
    np.testing.assert_allclose(camera_model.intrinsics(data, 512, 512), K, atol=1e-9)
    with pytest.raises(actor_build.NeuralFaceError, match="fx = fy"):
        camera_settings(np.diag([700.0, 710.0, 1.0]), 512, 512)


def test_build_lines_up_with_the_photo_and_loads_in_the_trainer(actor):
    fit, settings = actor
    code, events = run_build(settings)
    assert code == 0, events.of("error")
    out = Path(settings.out)
    assert events.of("start")[0]["total"] == 3 and events.of("start")[0]["frames"] == [1, 2, 3]
    assert [e["frame"] for e in events.of("frame") if not e["skipped"]] == [1, 2, 3]
    warnings = [e["message"] for e in events.of("warning")]
    assert len(warnings) == 1 and "1 frame(s) left out" in warnings[0] and "4" in warnings[0]

    built = shot_format.read_shot(out / "shot", check_passes=False)
    assert built.resolution == (64, 64) and set(built.passes) == {"depth", "normal", "albedo", "mask", "regions"}
    fit_values = {n: i for i, n in enumerate(fit.coefficient_names)}
    for record in built.frames[:3]:
        source = fit.frame(record.frame)
        for i, name in enumerate(built.coefficient_names):
            assert record.coefficients[i] == pytest.approx(source.coefficients[fit_values[name]], abs=1e-6)
        np.testing.assert_allclose(record.K, np.diag([0.5, 0.5, 1.0]) @ source.K, atol=1e-9)
        passes = shot_passes.read_passes(built, record.frame, out / "shot")
        mask = passes["mask"]
        assert mask.shape == (64, 64) and 0.05 < mask.mean() < 0.9
        points = np.floor(source.landmarks * 0.5).astype(int)  # the fit's landmarks at the output size
        assert ((points >= 0) & (points < 64)).all()
        inside = mask[points[:, 1], points[:, 0]] > 0.5
        assert inside.mean() >= 0.95, (record.frame, inside.mean())
        assert np.isfinite(passes["depth"][mask > 0.5]).all() and (passes["regions"][mask > 0.5] >= 0).all()
    assert not shot_format.pass_path(out / "shot", 4).exists() and not (out / "targets" / "0004.png").exists()

    record = json.loads((out / "frames.json").read_text())
    assert [e["frame"] for e in record["frames"]] == [1, 2, 3, 4] and record["left_out"] == [4]
    for entry in record["frames"][:3]:  # the posed head's landmarks are the fit's: same conventions
        assert entry["landmark_offset_px"] < 1e-3, entry

    for frame in (1, 2, 3):
        target = Image.open(out / "targets" / f"{frame:04d}.png")
        assert target.mode == "RGB" and target.size == (64, 64)
        crop = Image.open(Path(settings.crops) / f"{frame:04d}.png").convert("RGB")
        expected = np.asarray(crop.resize((64, 64), Image.Resampling.LANCZOS))
        np.testing.assert_array_equal(np.asarray(target), expected)



def test_the_sample_folder_loads_with_the_trainers_reader(actor):
    pytest.importorskip("torch")  # the reader's package needs torch (the bpy 5.0.1 venv has none)
    from neural_core.face_model.config import tiny_config
    from neural_core.train.dataset import FaceDataset

    fit, settings = actor
    assert run_build(settings)[0] == 0
    dataset = FaceDataset(settings.out, tiny_config(coefficient_names=("jawOpen", "id_00"), resolution=32))
    assert sorted(frame for _, frame in dataset.keys) == [1, 2, 3]  # frame 4 has no target
    sample = dataset.load(dataset.keys[1])
    assert sample["target"].shape == (3, 32, 32) and sample["mask"].shape == (1, 32, 32)
    assert sample["mask"].mean() > 0.05 and -1.0 <= sample["target"].min() <= sample["target"].max() <= 1.0
    assert sample["coefficients"][1] == pytest.approx(IDENTITY["id_00"], abs=1e-6)


def test_a_rerun_skips_finished_frames_and_a_refit_remakes_only_its_frames(actor, tmp_path):
    fit, settings = actor
    assert run_build(settings)[0] == 0
    out = Path(settings.out)
    stamps = {p: p.stat().st_mtime_ns for p in sorted((out / "shot" / "passes").glob("*.exr"))}
    leftovers = [out / "shot" / "passes" / ".0002.partial-99999.exr", out / "targets" / ".0002.png.tmp-99999"]
    for path in leftovers:  # what a killed build leaves behind
        path.write_bytes(b"half a file")
    code, events = run_build(settings)
    assert not any(path.exists() for path in leftovers)
    assert code == 0 and [e["skipped"] for e in events.of("frame")] == [True, True, True]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert (out / "frames.json").is_file()

    data = json.loads((Path(settings.shot) / "shot.json").read_text())  # a refit moves frame 2's jaw (too far)
    jaw = data["rig"]["coefficient_names"].index("jawOpen")
    data["frames"][1]["coefficients"][jaw] = 1.3
    (Path(settings.shot) / "shot.json").write_text(json.dumps(data))
    Image.new("RGB", (CROP, CROP), (10, 200, 30)).save(Path(settings.crops) / "0003.png")  # a new crop of frame 3
    code, events = run_build(settings)
    assert code == 0 and {e["frame"]: e["skipped"] for e in events.of("frame")} == {1: True, 2: False, 3: False}
    built = shot_format.read_shot(out / "shot", check_passes=False)
    assert built.frame(2).coefficients[built.coefficient_names.index("jawOpen")] == 1.0  # the key's range
    assert any("clamped: jawOpen" in e["message"] for e in events.of("warning"))
    assert np.asarray(Image.open(out / "targets" / "0003.png"))[5, 5].tolist() == [10, 200, 30]

    (Path(settings.crops) / "0003.png").unlink()  # a crop gone: its frame goes from the samples too
    code, events = run_build(settings)
    assert code == 0 and [e["frame"] for e in events.of("frame")] == [1, 2]
    assert not (out / "targets" / "0003.png").exists() and not shot_format.pass_path(out / "shot", 3).exists()
    Image.new("RGB", (CROP, CROP), (10, 200, 30)).save(Path(settings.crops) / "0003.png")
    whole = (Path(settings.crops) / "0003.png").read_bytes()
    (Path(settings.crops) / "0003.png").write_bytes(whole[:60])  # truncated: its header reads, its pixels do not
    code, events = run_build(settings)
    assert code == 0 and any("left out" in e["message"] and "unreadable" in e["message"] for e in events.of("warning"))
    assert not (out / "targets" / "0003.png").exists() and (out / "frames.json").is_file()
    (Path(settings.crops) / "0003.png").write_bytes(whole)

    settings.resolution = 32  # another resolution: every frame again
    code, events = run_build(settings)
    assert code == 0 and [e["skipped"] for e in events.of("frame")] == [False, False, False]
    assert Image.open(out / "targets" / "0001.png").size == (32, 32)


def _command(settings, *extra):
    return [sys.executable, "-m", "blender_addon.dataset.actor_build", "--shot", settings.shot, "--crops",
            settings.crops, "--out", settings.out, "--samples", "1", "--resolution", str(settings.resolution),
            "--json", *extra]


def test_the_command_reports_bad_input_and_cancels_after_the_current_frame(actor, tmp_path):
    fit, settings = actor
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bad = subprocess.run(_command(BuildSettings(shot=str(tmp_path / "nothing"), crops=settings.crops,
                                                out=settings.out, resolution=64)),
                         capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    events = [protocol.parse_event(line) for line in bad.stdout.splitlines()]
    assert bad.returncode == protocol.EXIT_BAD_INPUT, bad.stderr[-2000:]
    assert events[-2]["event"] == "error" and "nothing" in events[-2]["message"] and events[-1]["status"] == "bad-input"
    (tmp_path / "a_file").write_text("")
    code, events = run_build(BuildSettings(shot=settings.shot, crops=settings.crops, out=str(tmp_path / "a_file" / "build")))
    assert code == protocol.EXIT_BAD_INPUT and "is not writable" in events.of("error")[0]["message"]

    process = subprocess.Popen(_command(settings), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               cwd=ROOT, env=env)
    events = []
    try:
        for line in process.stdout:
            events.append(protocol.parse_event(line))
            if events[-1]["event"] == "frame" and len([e for e in events if e["event"] == "frame"]) == 1:
                process.send_signal(signal.SIGINT)  # once: a second one could land after the worker's cancel
                # handler is gone and kill it outright (exit -2; seen once in CI under load)
        process.wait(timeout=300)
    finally:
        process.kill()
    assert process.returncode == protocol.EXIT_CANCELLED, events
    assert events[-1]["status"] == "cancelled" and events[-2]["kind"] == "cancelled"
    made = [e["frame"] for e in events if e["event"] == "frame"]
    assert 1 <= len(made) < 3
    out = Path(settings.out)
    assert not (out / "frames.json").exists()
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and p.name != ".build.lock"]  # no partial file

    code, resumed = run_build(settings)
    assert code == 0 and [e["frame"] for e in resumed.of("frame") if e["skipped"]] == made
    assert (out / "frames.json").is_file()


def test_the_actor_fitters_shot_builds_in_register(tmp_path):
    """A fit shot made by neural_core.actor.fit_shot (the fitter's own writer, from known
    fitted values) builds with the posed head's landmarks on the fitted ones: the head
    model and Blender agree, and so do the two sides' conventions."""
    from neural_core.actor.fit import ActorFit, FrameFit
    from neural_core.actor.fit_shot import make_fit_shot, write_crop, write_fit_shot
    from neural_core.actor.head_model import load_head_model

    model = load_head_model()
    rng = np.random.default_rng(4)
    names = list(model.expression_names)
    frames = []
    for i in range(3):
        expression = np.zeros(len(names))
        expression[names.index("jawOpen")], expression[names.index("eyeBlinkRight")] = 0.3 * i, 0.5
        frames.append(FrameFit(expression=expression, rotation=rng.normal(0.0, 0.2, 3),
                               translation=np.array([0.01 * i, 0.12, 0.55 + 0.05 * i]),
                               gaze=np.array([0.1, -0.1, 0.1, -0.1]) * i, focal=800.0, size=(640, 480), residual=0.5))
    fit = ActorFit(identity=rng.uniform(-0.5, 0.5, model.num_identity), frames=frames,
                   identity_names=tuple(model.identity_names), expression_names=tuple(names))
    result = make_fit_shot(fit, model, crop_size=CROP, crop_scale=1.6)
    write_fit_shot(tmp_path / "fit" / "shot", result)
    (tmp_path / "fit" / "crops").mkdir()
    photo = np.full((480, 640, 3), 90, np.uint8)
    for number, box in enumerate(result.crops, start=1):
        write_crop(tmp_path / "fit" / "crops" / f"{number:04d}.png", photo, box)
    settings = BuildSettings(shot=str(tmp_path / "fit" / "shot"), crops=str(tmp_path / "fit" / "crops"),
                             out=str(tmp_path / "build"), samples=1)
    code, events = run_build(settings)
    assert code == 0 and not events.of("warning"), events.events
    out = Path(settings.out)
    built = shot_format.read_shot(out / "shot", check_passes=False)
    offsets = [e["landmark_offset_iod"] for e in json.loads((out / "frames.json").read_text())["frames"]]
    assert max(offsets) < 1e-3, offsets  # the head model reproduces Blender's landmarks
    for record in result.shot.frames:
        mask = shot_passes.read_passes(built, record.frame, out / "shot", names=["mask"])["mask"]
        points = np.floor(record.landmarks).astype(int)
        assert (mask[points[:, 1], points[:, 0]] > 0.5).mean() >= 0.95


def test_crops_become_8_bit_rgb_targets(tmp_path):
    from blender_addon.dataset.actor_samples import target_image

    grey = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)  # 16-bit grey
    Image.fromarray(grey).save(tmp_path / "grey.png")
    assert Image.open(tmp_path / "grey.png").mode.startswith("I")
    image = target_image(tmp_path / "grey.png", (64, 64))
    pixels = np.asarray(image)
    assert image.mode == "RGB" and (pixels[..., 0] == pixels[..., 2]).all()
    np.testing.assert_array_equal(pixels[..., 1], np.round(grey / 257.0).astype(np.uint8))
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 0  # fully transparent red: the colour stays, like the trainer's convert("RGB")
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert np.asarray(target_image(tmp_path / "rgba.png", (32, 32)))[4, 4].tolist() == [200, 0, 0]
