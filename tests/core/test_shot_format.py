"""Shot-folder format v1: writing, reading back, and the on-disk layout."""

import json
from pathlib import Path

import numpy as np
import pytest

from neural_core.contract.errors import ShotFormatError
from neural_core.contract.shot import (
    FORMAT_NAME,
    FORMAT_VERSION,
    FrameRecord,
    PassInfo,
    Shot,
    Transform,
    pass_path,
    read_shot,
    validate_shot,
    write_exr_channels,
    write_shot,
)

ROOT_HINT = Path(__file__).resolve().parents[2]  # repository root, cwd for subprocesses
WIDTH, HEIGHT = 12, 8
PASSES = {
    "depth": PassInfo(["Z"], "camera", "m", "ViewLayer.Depth"),
    "normal": PassInfo(["X", "Y", "Z"], "world", "unit-vector", "ViewLayer.Normal"),
    "albedo": PassInfo(["R", "G", "B"], "linear-rgb", "reflectance", "ViewLayer.DiffCol"),
    "mask": PassInfo(["X"], "screen", "coverage", "ViewLayer.IndexOB"),
    "regions": PassInfo(["X"], "screen", "id", "ViewLayer.IndexMA"),
}
# Blender camera looking along world +Y from y = -2 (Blender camera axes: -Z forward, +Y up)
# expressed as OpenCV world->camera: x_cam = world x, y_cam = -world z, z_cam = world y + 2
WORLD_TO_CAMERA = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0.05], [0, 1, 0, 2.0], [0, 0, 0, 1]])


def rotation_z(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_x(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def make_frame(number, n_coefficients=3, landmarks=True):
    head_world = Transform(rotation_z(0.01 * number + 0.1), np.array([0.001 * number, 0.2, 1.6]))
    return FrameRecord(
        frame=number,
        coefficients=np.linspace(0.0, 1.0, n_coefficients) / 3.0 + number * 1e-9,
        head_world=head_world,
        head_camera=Transform.from_matrix(WORLD_TO_CAMERA @ head_world.matrix()),
        joints={"jaw": rotation_x(0.05 * number), "eye.L": np.eye(3)},
        K=np.array([[400.0 / 3.0, 0.0, WIDTH / 2], [0.0, 400.0 / 3.0, HEIGHT / 2], [0.0, 0.0, 1.0]]),
        world_to_camera=WORLD_TO_CAMERA.copy(),
        landmarks=np.random.default_rng(number).uniform(0, WIDTH, (468, 2)) if landmarks else None,
    )


def make_shot(frames=(1, 2, 3), passes=True, **overrides):
    values = dict(
        fps=24000 / 1001,
        resolution=(WIDTH, HEIGHT),
        pixel_aspect=1.0,
        rig_profile="arkit52",
        coefficient_names=["jawOpen", "eyeBlinkLeft", "eyeBlinkRight"],
        frames=[make_frame(f) for f in frames],
        passes=dict(PASSES) if passes else {},
        render={"engine": "CYCLES", "blender_version": "4.5.15", "samples": 1, "mask_pass_index": 1},
        source={"blend_file": "head.blend", "scene": "Scene", "head_object": "Head"},
    )
    values.update(overrides)
    return Shot(**values)


def write_pass_files(folder, shot, size=(WIDTH, HEIGHT), skip=()):
    """One EXR per frame holding every channel named by shot.passes (Blender-like names)."""
    width, height = size
    for record in shot.frames:
        if record.frame in skip:
            continue
        channels = {}
        for info in shot.passes.values():
            for name in info.channel_names():
                channels[name] = np.full((height, width), 0.5 + record.frame, np.float32)
        path = pass_path(folder, record.frame, shot.passes_folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_exr_channels(path, channels)


def write_full_shot(folder, shot=None):
    shot = make_shot() if shot is None else shot
    write_shot(folder, shot)
    write_pass_files(folder, shot)
    return shot


def assert_shots_equal(a, b):
    assert (a.fps, a.resolution, a.pixel_aspect, a.rig_profile) == (b.fps, b.resolution, b.pixel_aspect, b.rig_profile)
    assert a.coefficient_names == b.coefficient_names
    assert a.passes == b.passes and a.passes_folder == b.passes_folder
    assert a.render == b.render and a.source == b.source and a.frame_step == b.frame_step
    assert [r.frame for r in a.frames] == [r.frame for r in b.frames]
    for x, y in zip(a.frames, b.frames):
        for name in ("coefficients", "K", "world_to_camera"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))  # exact: float64 survives
        for name in ("head_world", "head_camera"):
            np.testing.assert_array_equal(getattr(x, name).rotation, getattr(y, name).rotation)
            np.testing.assert_array_equal(getattr(x, name).translation, getattr(y, name).translation)
        assert x.joints.keys() == y.joints.keys()
        for joint in x.joints:
            np.testing.assert_array_equal(x.joints[joint], y.joints[joint])
        if x.landmarks is None:
            assert y.landmarks is None
        else:
            np.testing.assert_array_equal(x.landmarks, y.landmarks)


def test_round_trip_is_exact(tmp_path):
    shot = write_full_shot(tmp_path / "SHOT")
    back = read_shot(tmp_path / "SHOT")
    assert_shots_equal(shot, back)
    assert back.fps == 24000 / 1001
    assert back.frames[0].coefficients.dtype == np.float64


def test_round_trip_through_validate_and_a_second_write(tmp_path):
    shot = write_full_shot(tmp_path / "A")
    again = validate_shot(tmp_path / "A")
    write_shot(tmp_path / "B", again)
    assert (tmp_path / "A" / "shot.json").read_text() == (tmp_path / "B" / "shot.json").read_text()
    assert_shots_equal(shot, read_shot(tmp_path / "B", check_passes=False))


def test_coefficient_only_shot_needs_no_pass_files(tmp_path):
    shot = make_shot(passes=False, frames=(5, 6))
    shot.frames[0].landmarks = None
    shot.frames[1].landmarks = None
    write_shot(tmp_path, shot)
    back = validate_shot(tmp_path)
    assert back.passes == {} and back.frame_numbers() == [5, 6]
    assert back.frames[0].landmarks is None


def test_frame_step_round_trip(tmp_path):
    shot = make_shot(frames=(10, 12, 14), frame_step=2)
    write_full_shot(tmp_path, shot)
    assert read_shot(tmp_path).frame_step == 2


def test_json_layout(tmp_path):
    path = write_shot(tmp_path, make_shot())
    assert path == tmp_path / "shot.json"
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT_NAME == "neural-face-shot"
    assert data["version"] == FORMAT_VERSION == 1
    assert data["resolution"] == [WIDTH, HEIGHT]
    assert data["rig"]["coefficient_names"][0] == "jawOpen"
    assert data["passes"]["depth"] == {"channels": ["Z"], "space": "camera", "units": "m",
                                       "source": "ViewLayer.Depth"}
    frame = data["frames"][0]
    assert sorted(frame) == ["camera", "coefficients", "frame", "head_camera", "head_world", "joints", "landmarks"]
    assert np.array(frame["camera"]["K"]).shape == (3, 3)
    assert np.array(frame["camera"]["world_to_camera"]).shape == (4, 4)
    assert np.array(frame["landmarks"]).shape == (468, 2)


def test_write_leaves_only_shot_json(tmp_path):
    write_shot(tmp_path, make_shot())
    write_shot(tmp_path, make_shot(fps=30.0))
    assert [p.name for p in tmp_path.iterdir()] == ["shot.json"]
    assert read_shot(tmp_path, check_passes=False).fps == 30.0


def test_refused_write_keeps_the_old_file(tmp_path):
    write_shot(tmp_path, make_shot())
    before = (tmp_path / "shot.json").read_text()
    bad = make_shot()
    bad.frames[1].coefficients[0] = np.nan
    with pytest.raises(ShotFormatError, match="frame 2.*'coefficients'.*non-finite"):
        write_shot(tmp_path, bad)
    assert (tmp_path / "shot.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["shot.json"]


@pytest.mark.parametrize("where", ["render", "source"])
def test_write_refuses_nan_in_free_form_dicts(tmp_path, where):
    shot = make_shot(**{where: {"value": float("inf")}})
    with pytest.raises(ShotFormatError, match="JSON"):
        write_shot(tmp_path, shot)
    assert not (tmp_path / "shot.json").exists()


def test_pass_path_uses_four_digit_frame_numbers(tmp_path):
    assert pass_path(tmp_path, 1) == tmp_path / "passes" / "0001.exr"
    assert pass_path(tmp_path, 12345) == tmp_path / "passes" / "12345.exr"
    assert pass_path(str(tmp_path), 7).name == "0007.exr"


def test_transform_matrix_round_trip():
    transform = Transform(rotation_z(0.3), np.array([1.0, 2.0, 3.0]))
    again = Transform.from_matrix(transform.matrix())
    np.testing.assert_array_equal(again.rotation, transform.rotation)
    np.testing.assert_array_equal(again.translation, transform.translation)
    assert transform.matrix()[3].tolist() == [0, 0, 0, 1]


def test_shot_frame_lookup():
    shot = make_shot(frames=(3, 4))
    assert shot.frame(4).frame == 4
    with pytest.raises(ShotFormatError, match="frame 9"):
        shot.frame(9)


def test_importing_the_format_does_not_import_torch_or_openexr():
    import subprocess
    import sys

    code = ("import sys, neural_core.contract.shot, neural_core.contract.protocol; "
            "print('torch' in sys.modules, 'OpenEXR' in sys.modules, 'bpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True, cwd=ROOT_HINT)
    assert out.stdout.split() == ["False", "False", "False"]


def test_the_example_in_the_format_document_is_a_valid_shot(tmp_path):
    text = (ROOT_HINT / "docs" / "shot-format.md").read_text()
    example = text.split("## Example `shot.json`")[1].split("```json")[1].split("```")[0]
    (tmp_path / "shot.json").write_text(example)
    shot = read_shot(tmp_path, check_passes=False)
    assert shot.frame_numbers() == [1, 2] and sorted(shot.passes) == ["albedo", "depth", "mask", "normal", "regions"]
    # the camera looks along world +Y: the head 0.6 m ahead projects near the image centre
    record = shot.frames[0]
    point = record.world_to_camera @ np.array([0.0, 0.0, 1.6, 1.0])
    u, v, w = record.K @ point[:3]
    assert point[2] == pytest.approx(0.6) and u / w == pytest.approx(128.0) and v / w > 128.0


def test_numpy_values_in_free_form_dicts_are_stored_as_plain_json(tmp_path):
    shot = make_shot(render={"samples": np.int64(4), "clip": np.array([0.1, 100.0])},
                     source={"blend_file": Path("/x/head.blend")})
    write_shot(tmp_path, shot)
    back = read_shot(tmp_path, check_passes=False)
    assert back.render == {"samples": 4, "clip": [0.1, 100.0]} and back.source == {"blend_file": "/x/head.blend"}
