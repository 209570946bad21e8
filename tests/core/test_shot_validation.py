"""Every class of malformed shot folder is refused with the file, frame and field named."""

import json
import subprocess
import sys

import numpy as np
import pytest

from neural_core.contract.errors import ShotFormatError
from neural_core.contract.shot import pass_path, read_shot, validate_shot, write_exr_channels, write_shot

from .test_shot_format import ROOT_HINT, make_shot, rotation_z, write_full_shot, write_pass_files  # noqa: F401


def load(folder):
    return json.loads((folder / "shot.json").read_text())


def save(folder, data):
    # allow_nan: write NaN/Infinity tokens as another program might
    (folder / "shot.json").write_text(json.dumps(data, allow_nan=True))


def refused(folder, mutate, *, check_passes=True):
    data = load(folder)
    mutate(data)
    save(folder, data)
    with pytest.raises(ShotFormatError) as info:
        read_shot(folder, check_passes=check_passes)
    return info.value


@pytest.fixture
def shot_folder(tmp_path):
    folder = tmp_path / "SHOT"
    write_full_shot(folder)
    return folder


def frame(data, number):
    return next(f for f in data["frames"] if f["frame"] == number)


def set_path(data, path, value):
    *parents, last = path
    for key in parents:
        data = data[key]
    data[last] = value


def delete_path(data, path):
    *parents, last = path
    for key in parents:
        data = data[key]
    del data[last]


# (top-level path, field named in the error, message fragment)
MISSING_TOP = [
    (("format",), "format", "missing"),
    (("version",), "version", "missing"),
    (("fps",), "fps", "missing"),
    (("resolution",), "resolution", "missing"),
    (("rig",), "rig", "missing"),
    (("rig", "profile"), "rig.profile", "missing"),
    (("rig", "coefficient_names"), "rig.coefficient_names", "missing"),
    (("frames",), "frames", "missing"),
    (("passes", "depth", "source"), "passes.depth.source", "missing"),
    (("passes", "normal", "channels"), "passes.normal.channels", "missing"),
]


@pytest.mark.parametrize("path, field, fragment", MISSING_TOP)
def test_missing_top_level_field(shot_folder, path, field, fragment):
    error = refused(shot_folder, lambda d: delete_path(d, path))
    assert (error.field, error.frame) == (field, None)
    assert error.file.endswith("shot.json") and fragment in str(error)


MISSING_IN_FRAME = ["coefficients", "camera", "camera.K", "camera.world_to_camera", "head_world",
                    "head_world.rotation", "head_camera.translation"]


@pytest.mark.parametrize("field", MISSING_IN_FRAME)
def test_missing_frame_field(shot_folder, field):
    error = refused(shot_folder, lambda d: delete_path(frame(d, 2), field.split(".")))
    assert (error.frame, error.field) == (2, field)
    assert str(error).endswith("missing") and "shot.json, frame 2, field" in str(error)


def test_missing_frame_number_names_the_list_index(shot_folder):
    error = refused(shot_folder, lambda d: delete_path(d["frames"][1], ["frame"]))
    assert error.field == "frames[1].frame" and error.frame is None


@pytest.mark.parametrize("version, fragment", [
    (2, "format version 2 is newer than this reader supports (1); update Neural Face"),
    (0, "expected a positive integer format version"),
    ("1", "expected a positive integer format version"),
    (1.5, "expected a positive integer format version"),
])
def test_unknown_version(shot_folder, version, fragment):
    error = refused(shot_folder, lambda d: d.update(version=version))
    assert error.field == "version" and fragment in str(error)


def test_wrong_format_name(shot_folder):
    error = refused(shot_folder, lambda d: d.update(format="something-else"))
    assert error.field == "format" and "not a Neural Face shot" in str(error)


@pytest.mark.parametrize("field, path, value", [
    ("fps", ("fps",), float("nan")),
    ("fps", ("fps",), float("inf")),
    ("pixel_aspect", ("pixel_aspect",), float("-inf")),
])
def test_non_finite_top_level(shot_folder, field, path, value):
    error = refused(shot_folder, lambda d: set_path(d, path, value))
    assert error.field == field and "finite" in str(error)


@pytest.mark.parametrize("field, index", [
    ("coefficients", (1,)),
    ("camera.K", (0, 2)),
    ("camera.world_to_camera", (2, 3)),
    ("head_world.translation", (0,)),
    ("head_camera.rotation", (1, 1)),
    ("joints.jaw", (0, 0)),
    ("landmarks", (100, 1)),
])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_in_frame(shot_folder, field, index, value):
    def mutate(data):
        target = frame(data, 3)
        for key in field.split("."):
            target = target[key]
        for i in index[:-1]:
            target = target[i]
        target[index[-1]] = value

    error = refused(shot_folder, mutate)
    assert (error.frame, error.field) == (3, field)
    assert "non-finite" in str(error) and f"at index {list(index)}" in str(error)


def test_a_non_finite_coefficient_is_named(shot_folder):
    # issue 13.12: the error gave only the index; the rig's name for it is what a user can find
    error = refused(shot_folder, lambda d: frame(d, 2)["coefficients"].__setitem__(1, float("nan")))
    assert (error.frame, error.field) == (2, "coefficients")
    assert str(error).endswith("field 'coefficients': contains a non-finite value (nan) at index [1] ('eyeBlinkLeft')")
    # more values than names: the extra one has no name, the count is refused after it
    error = refused(shot_folder, lambda d: frame(d, 2).update(coefficients=[0.0, 0.0, 0.0, float("inf")]))
    assert str(error).endswith("at index [3]")


def test_huge_number_parses_to_inf_and_is_refused(shot_folder):
    text = (shot_folder / "shot.json").read_text().replace('"fps": 23.976023976023978', '"fps": 1e999')
    assert "1e999" in text
    (shot_folder / "shot.json").write_text(text)
    with pytest.raises(ShotFormatError, match="field 'fps': expected a finite number"):
        read_shot(shot_folder)


@pytest.mark.parametrize("field, value, fragment", [
    ("camera.K", np.eye(4)[:3].tolist(), "expected a 3x3 matrix, got 3x4"),
    ("camera.K", [1, 2, 3], "expected a 3x3 matrix, got a list of 3"),
    ("camera.K", 5, "expected a 3x3 matrix, got a single number"),
    ("camera.K", [[1, 2, 3], [4, 5], [6, 7, 8]], "ragged"),
    ("camera.K", [["a", 0, 0], [0, 1, 0], [0, 0, 1]], "ragged or non-numeric"),
    ("camera.K", [[100, 0, 5], [0, 100, 4], [0, 0, 2]], "[[fx, s, cx], [0, fy, cy], [0, 0, 1]]"),
    ("camera.K", [[-100, 0, 5], [0, 100, 4], [0, 0, 1]], "fx, fy > 0"),
    ("camera.world_to_camera", np.eye(3).tolist(), "expected a 4x4 matrix, got 3x3"),
    ("camera.world_to_camera", [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]], "last row of [0, 0, 0, 1]"),
    ("camera.world_to_camera", (np.diag([2.0, 2, 2, 1])).tolist(), "expected a rotation matrix"),
    ("head_world.rotation", np.diag([1.0, 1, -1]).tolist(), "det = -1"),
    ("head_world.rotation", (1.01 * np.eye(3)).tolist(), "no scale"),
    ("head_world.translation", [0, 0], "expected a list of 3 numbers, got a list of 2"),
    ("joints.jaw", np.eye(4).tolist(), "expected a 3x3 matrix, got 4x4"),
    ("joints", [1, 2], "expected an object"),
    ("coefficients", [0.5], "expected 3 values (one per rig.coefficient_names), got 1"),
    ("coefficients", [[0.5, 0.5, 0.5]], "expected a list of numbers, got 1x3"),
    ("coefficients", [True, 0.0, 0.0], "booleans"),
    ("landmarks", [[0.5, 0.5]] * 467 + [[0.5, False]], "booleans"),
    ("camera.K", [[100, 0, 5], [0, 100, 4], [0, 0, True]], "booleans"),
    ("landmarks", np.zeros((468, 3)).tolist(), "expected an Nx2 matrix, got 468x3"),
    ("landmarks", [], "expected an Nx2 matrix, got a list of 0"),
])
def test_malformed_frame_field(shot_folder, field, value, fragment):
    error = refused(shot_folder, lambda d: set_path(frame(d, 2), field.split("."), value))
    assert (error.frame, error.field) == (2, field)
    assert fragment in str(error)


def test_example_message_from_the_brief(shot_folder):
    error = refused(shot_folder, lambda d: set_path(frame(d, 2), ["camera", "K"], np.eye(4)[:3].tolist()))
    assert str(error).endswith("shot.json, frame 2, field 'camera.K': expected a 3x3 matrix, got 3x4")


def test_head_camera_must_match_world_to_camera_times_head_world(shot_folder):
    def mutate(data):
        frame(data, 3)["head_camera"]["translation"][2] *= -1  # a typical axis-convention bug

    error = refused(shot_folder, mutate)
    assert (error.frame, error.field) == (3, "head_camera") and "axes conventions" in str(error)


def test_landmark_counts_must_agree(shot_folder):
    error = refused(shot_folder, lambda d: set_path(frame(d, 3), ["landmarks"], [[1.0, 2.0]] * 68))
    assert (error.frame, error.field) == (3, "landmarks") and "has 68 points, frame 1 has 468" in str(error)


def test_duplicate_frame(shot_folder):
    def mutate(data):
        data["frames"][2]["frame"] = 2

    error = refused(shot_folder, mutate)
    assert (error.frame, error.field) == (2, "frame") and "more than once" in str(error)


def test_missing_frame_in_the_sequence(shot_folder):
    error = refused(shot_folder, lambda d: d["frames"].pop(1))
    assert (error.frame, error.field) == (3, "frame") and "frame 2 is missing" in str(error)


def test_frames_out_of_order(shot_folder):
    error = refused(shot_folder, lambda d: d["frames"].reverse())
    assert error.field == "frame" and "increasing order" in str(error)


@pytest.mark.parametrize("frames", [[], {}])
def test_empty_frames(shot_folder, frames):
    error = refused(shot_folder, lambda d: d.update(frames=frames))
    assert error.field == "frames" and "non-empty list" in str(error)


@pytest.mark.parametrize("field, value, fragment", [
    ("resolution", [256], "expected [width, height]"),
    ("resolution", [256.0, 256], "expected [width, height]"),
    ("resolution", [0, 256], "expected [width, height]"),
    ("fps", 0, "positive"),
    ("fps", "24", "expected a number, got a string"),
    ("frame_step", 0, ">= 1"),
    ("passes_folder", "../elsewhere", "inside the shot folder"),
    ("passes_folder", "/abs/passes", "inside the shot folder"),
    ("render", [], "expected an object"),
])
def test_malformed_top_level(shot_folder, field, value, fragment):
    error = refused(shot_folder, lambda d: d.update({field: value}), check_passes=False)
    assert error.field == field and fragment in str(error)


@pytest.mark.parametrize("mutate, field, fragment", [
    (lambda d: d["rig"].update(coefficient_names=["a", "a", "b"]), "rig.coefficient_names", "duplicate names ['a']"),
    (lambda d: d["rig"].update(coefficient_names=["a", 3, "b"]), "rig.coefficient_names", "non-empty strings"),
    (lambda d: d["rig"].update(profile=""), "rig.profile", "non-empty string"),
    (lambda d: d["passes"]["depth"].update(units="cm"), "passes.depth.units", "expected one of"),
    (lambda d: d["passes"]["normal"].update(units="m"), "passes.normal.units", "'unit-vector', got 'm'"),
    (lambda d: d["passes"]["normal"].update(channels=["X", "Y"]), "passes.normal.channels", "has 3 channel(s)"),
    (lambda d: d["passes"]["albedo"].update(channels=["R", "R", "B"]), "passes.albedo.channels", "duplicate"),
    (lambda d: d["passes"]["mask"].update(space="object"), "passes.mask.space", "expected one of"),
    (lambda d: d.update(passes=[]), "passes", "expected an object"),
])
def test_malformed_rig_and_pass_table(shot_folder, mutate, field, fragment):
    error = refused(shot_folder, mutate, check_passes=False)
    assert error.field == field and fragment in str(error)


def test_not_json_and_not_an_object(shot_folder):
    (shot_folder / "shot.json").write_text('{"format": "neural-face-shot",\n "version": 1,,}')
    with pytest.raises(ShotFormatError, match=r"shot.json: not valid JSON: .* at line 2 column 15"):
        read_shot(shot_folder)
    (shot_folder / "shot.json").write_text("[1, 2]")
    with pytest.raises(ShotFormatError, match="expected a JSON object at the top level"):
        read_shot(shot_folder)


def test_missing_folder_and_missing_shot_json(tmp_path):
    with pytest.raises(ShotFormatError, match="shot folder not found"):
        read_shot(tmp_path / "nope")
    with pytest.raises(ShotFormatError, match="shot.json: file not found"):
        read_shot(tmp_path)


def test_unknown_keys_are_ignored(shot_folder):
    data = load(shot_folder)
    data["added_in_1_1"] = {"x": 1}
    data["frames"][0]["new_field"] = [1, 2]
    save(shot_folder, data)
    assert read_shot(shot_folder).frame_numbers() == [1, 2, 3]


# ---- pass files ----------------------------------------------------------------------------


def test_pass_file_missing(shot_folder):
    pass_path(shot_folder, 2).unlink()
    with pytest.raises(ShotFormatError) as info:
        read_shot(shot_folder)
    error = info.value
    assert error.file == str(shot_folder / "passes" / "0002.exr")
    assert (error.frame, error.field) == (2, "passes") and "pass file missing" in str(error)
    assert read_shot(shot_folder, check_passes=False).frame_numbers() == [1, 2, 3]  # opt-out works


def test_pass_file_of_the_wrong_size(tmp_path):
    shot = make_shot()
    write_shot(tmp_path, shot)
    write_pass_files(tmp_path, shot)
    write_pass_files(tmp_path, make_shot(frames=(3,)), size=(6, 4))
    with pytest.raises(ShotFormatError) as info:
        read_shot(tmp_path)
    assert str(info.value).endswith("0003.exr, frame 3, field 'passes': image is 6x4, shot.json says 12x8")


def test_pass_file_without_a_listed_channel(shot_folder):
    write_exr_channels(pass_path(shot_folder, 1), {"ViewLayer.Depth.Z": np.ones((8, 12))})
    with pytest.raises(ShotFormatError) as info:
        read_shot(shot_folder)
    assert (info.value.frame, info.value.field) == (1, "passes.normal.source")
    assert "ViewLayer.Normal.X" in str(info.value)


def test_only_the_given_frames_pass_files_are_checked(shot_folder):
    from neural_core.contract.shot.validate import check_pass_files

    pass_path(shot_folder, 3).unlink()
    shot = read_shot(shot_folder, check_passes=False)
    check_pass_files(shot_folder, shot, frames=[1, 2])  # frame 3 is not asked for
    with pytest.raises(ShotFormatError) as info:
        check_pass_files(shot_folder, shot, frames=[2, 3])
    assert (info.value.frame, info.value.field) == (3, "passes") and "0003.exr" in str(info.value)
    with pytest.raises(ShotFormatError, match="0003.exr, frame 3, field 'passes': pass file missing"):
        check_pass_files(shot_folder, shot)


def test_pass_file_that_is_not_an_exr(shot_folder):
    pass_path(shot_folder, 3).write_bytes(b"garbage")
    with pytest.raises(ShotFormatError, match="0003.exr, frame 3, field 'passes': not a readable OpenEXR"):
        read_shot(shot_folder)


def test_truncated_pass_file_is_caught_by_validate_only(shot_folder):
    shot = make_shot()
    path = pass_path(shot_folder, 2)
    rng = np.random.default_rng(1)
    write_exr_channels(path, {name: rng.uniform(size=(64, 64)) for info in shot.passes.values()
                              for name in info.channel_names()})
    # same header size as the shot: rewrite shot.json for 64x64 then truncate the pixels
    write_shot(shot_folder, make_shot(resolution=(64, 64)))
    for number in (1, 3):
        write_exr_channels(pass_path(shot_folder, number), {name: np.ones((64, 64)) for info in shot.passes.values()
                                                            for name in info.channel_names()})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    read_shot(shot_folder)  # the header is intact
    with pytest.raises(ShotFormatError, match="0002.exr, frame 2, field 'passes': pixel data cannot be read"):
        validate_shot(shot_folder)


def test_nan_in_a_pass_is_caught_by_validate(shot_folder):
    channels = {name: np.ones((8, 12)) for info in make_shot().passes.values() for name in info.channel_names()}
    channels["ViewLayer.DiffCol.G"][3, 4] = np.nan
    write_exr_channels(pass_path(shot_folder, 1), channels)
    read_shot(shot_folder)
    with pytest.raises(ShotFormatError) as info:
        validate_shot(shot_folder)
    assert (info.value.frame, info.value.field) == (1, "passes.albedo")


def test_inf_depth_background_is_allowed(shot_folder):
    channels = {name: np.ones((8, 12)) for info in make_shot().passes.values() for name in info.channel_names()}
    channels["ViewLayer.Depth.Z"][0, 0] = np.inf
    write_exr_channels(pass_path(shot_folder, 1), channels)
    assert validate_shot(shot_folder).frame_numbers() == [1, 2, 3]


def test_write_refuses_what_read_refuses(tmp_path):
    shot = make_shot()
    shot.frames[1].K = np.eye(4)[:3]
    with pytest.raises(ShotFormatError, match="frame 2, field 'camera.K': expected a 3x3 matrix, got 3x4"):
        write_shot(tmp_path, shot)
    shot = make_shot()
    shot.frames[2].frame = 2
    with pytest.raises(ShotFormatError, match="frame 2, field 'frame': appears more than once"):
        write_shot(tmp_path, shot)
    shot = make_shot()
    shot.frames[0].head_world.rotation = rotation_z(0.1) * 2
    with pytest.raises(ShotFormatError, match="frame 1, field 'head_world.rotation'"):
        write_shot(tmp_path, shot)
    assert not (tmp_path / "shot.json").exists()


# ---- python -m neural_core validate ----------------------------------------------------------


def cli(*args):
    return subprocess.run([sys.executable, "-m", "neural_core", "validate", *map(str, args)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT_HINT)


def test_cli_valid_shot_prints_a_summary(shot_folder):
    result = cli(shot_folder)
    assert result.returncode == 0, result.stderr
    assert "valid neural-face-shot v1" in result.stdout
    assert "3 (1..3)" in result.stdout and "12x8" in result.stdout and "arkit52, 3 coefficients" in result.stdout
    assert "albedo, depth, mask, normal, regions" in result.stdout and "on 3 frame(s)" in result.stdout


def test_cli_invalid_shot_prints_the_error_and_exits_2(shot_folder):
    pass_path(shot_folder, 2).unlink()
    result = cli(shot_folder)
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert "0002.exr, frame 2, field 'passes': pass file missing" in result.stderr


def test_cli_json_mode_speaks_the_protocol(shot_folder):
    from neural_core.contract.protocol import parse_event

    data = load(shot_folder)
    data["version"] = 7
    save(shot_folder, data)
    result = cli(shot_folder, "--json")
    events = [parse_event(line) for line in result.stdout.splitlines()]
    assert result.returncode == 2
    assert [e["event"] for e in events] == ["error", "done"]
    assert events[0]["field"] == "version" and "newer than this reader supports" in events[0]["message"]
    write_shot(shot_folder, make_shot())
    result = cli(shot_folder, "--json", "--quick")
    events = [parse_event(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0 and events[0]["shot"]["frames"] == 3 and events[-1]["status"] == "ok"
