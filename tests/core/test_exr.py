"""OpenEXR helpers: real files written and read back with the OpenEXR package."""

import numpy as np
import pytest

from neural_core.contract.errors import ShotFormatError
from neural_core.contract.shot import exr


def _channels(height=5, width=7):
    rng = np.random.default_rng(0)
    return {
        "ViewLayer.Depth.Z": rng.uniform(0.5, 3.0, (height, width)),
        "ViewLayer.Normal.X": rng.uniform(-1, 1, (height, width)),
        "ViewLayer.Normal.Y": rng.uniform(-1, 1, (height, width)),
        "ViewLayer.Normal.Z": rng.uniform(-1, 1, (height, width)),
    }


def test_round_trip_float32_keeps_names_shapes_and_values(tmp_path):
    channels = _channels()
    path = exr.write_exr_channels(tmp_path / "0001.exr", channels)
    back = exr.read_exr_channels(path)
    assert sorted(back) == sorted(channels)
    for name, values in channels.items():
        assert back[name].dtype == np.float32
        assert back[name].shape == (5, 7)
        np.testing.assert_array_equal(back[name], values.astype(np.float32))


def test_rows_are_top_down(tmp_path):
    ramp = np.arange(4, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)  # row index
    back = exr.read_exr_channels(exr.write_exr_channels(tmp_path / "ramp.exr", {"Y": ramp}))
    np.testing.assert_array_equal(back["Y"][:, 0], [0, 1, 2, 3])


def test_half_channels_come_back_as_float32_with_half_precision(tmp_path):
    values = np.full((2, 3), 1.0 / 3.0)
    back = exr.read_exr_channels(exr.write_exr_channels(tmp_path / "h.exr", {"A": values}, half=True))
    assert back["A"].dtype == np.float32
    assert back["A"][0, 0] == np.float32(np.float16(1.0 / 3.0))
    assert back["A"][0, 0] != np.float32(1.0 / 3.0)


def test_inf_survives(tmp_path):
    values = np.array([[1.0, np.inf]])
    back = exr.read_exr_channels(exr.write_exr_channels(tmp_path / "inf.exr", {"Z": values}))
    assert np.isinf(back["Z"][0, 1])


def test_size_and_channel_names_from_header(tmp_path):
    path = exr.write_exr_channels(tmp_path / "s.exr", _channels(height=5, width=7))
    assert exr.exr_size(path) == (7, 5)
    assert sorted(exr.exr_channel_names(path)) == sorted(_channels())


def test_write_is_atomic_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.exr"
    exr.write_exr_channels(path, {"Z": np.zeros((2, 2))})
    exr.write_exr_channels(path, {"Z": np.ones((2, 2))})  # replaces
    assert exr.read_exr_channels(path)["Z"][0, 0] == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["a.exr"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.exr"
    exr.write_exr_channels(path, {"Z": np.zeros((2, 2))})
    with pytest.raises(ShotFormatError, match="expected"):
        exr.write_exr_channels(path, {"Z": np.zeros((2, 2)), "Y": np.zeros((3, 2))})
    assert exr.read_exr_channels(path)["Z"].shape == (2, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["a.exr"]


@pytest.mark.parametrize("function", [exr.read_exr_channels, exr.exr_size, exr.exr_channel_names])
def test_missing_file_names_the_file(tmp_path, function):
    with pytest.raises(ShotFormatError, match="nothere.exr.*not found"):
        function(tmp_path / "nothere.exr")


@pytest.mark.parametrize("content", [b"", b"not an exr at all" * 10])
def test_garbage_file_names_the_file(tmp_path, content):
    path = tmp_path / "bad.exr"
    path.write_bytes(content)
    with pytest.raises(ShotFormatError, match="bad.exr.*not a readable OpenEXR"):
        exr.read_exr_channels(path)


def test_truncated_file_is_refused(tmp_path):
    path = exr.write_exr_channels(tmp_path / "t.exr", _channels(64, 64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShotFormatError, match="t.exr"):
        exr.read_exr_channels(path)


def test_bad_channel_shape_is_refused(tmp_path):
    with pytest.raises(ShotFormatError, match="channel 'Z'.*expected \\[H, W\\]"):
        exr.write_exr_channels(tmp_path / "x.exr", {"Z": np.zeros((2, 2, 3))})


def test_multi_part_file_like_blender_5_merges_parts(tmp_path):
    # Blender 5.0 writes one part per render layer, each part named after the layer and
    # holding full channel names (measured on 5.0.1); 4.5 writes a single unnamed part.
    import OpenEXR

    depth = np.full((3, 4), 2.5, np.float32)
    normal = {f"ViewLayer.Normal.{c}": np.full((3, 4), i, np.float32) for i, c in enumerate("XYZ")}
    parts = [
        OpenEXR.Part({"name": "ViewLayer.Depth"}, {"ViewLayer.Depth.Z": depth}),
        OpenEXR.Part({"name": "ViewLayer.Normal"}, normal),
    ]
    path = tmp_path / "multi.exr"
    OpenEXR.File(parts).write(str(path))
    back = exr.read_exr_channels(path)
    assert sorted(back) == ["ViewLayer.Depth.Z", "ViewLayer.Normal.X", "ViewLayer.Normal.Y", "ViewLayer.Normal.Z"]
    assert back["ViewLayer.Normal.Z"][0, 0] == 2.0 and back["ViewLayer.Depth.Z"][2, 3] == 2.5
    assert exr.exr_size(path) == (4, 3)
    assert sorted(exr.exr_channel_names(path)) == sorted(back)


def test_multi_part_file_with_a_repeated_channel_is_refused(tmp_path):
    import OpenEXR

    parts = [OpenEXR.Part({"name": f"p{i}"}, {"Z": np.zeros((2, 2), np.float32)}) for i in range(2)]
    path = tmp_path / "dup.exr"
    OpenEXR.File(parts).write(str(path))
    with pytest.raises(ShotFormatError, match="channel 'Z' occurs in more than one part"):
        exr.read_exr_channels(path)


@pytest.mark.parametrize("half", [False, True])
def test_reading_selected_channels_gives_the_values_of_a_full_read(tmp_path, half):
    path = exr.write_exr_channels(tmp_path / "s.exr", _channels(6, 9), half=half)
    wanted = ["ViewLayer.Normal.Y", "ViewLayer.Depth.Z"]
    selected = exr.read_exr_channels(path, wanted)
    full = exr.read_exr_channels(path)
    assert list(selected) == wanted
    for name in wanted:
        assert selected[name].dtype == np.float32 and selected[name].shape == (6, 9)
        np.testing.assert_array_equal(selected[name], full[name])


def test_reading_selected_channels_of_a_multi_part_file_reads_every_part(tmp_path):
    import OpenEXR

    parts = [OpenEXR.Part({"name": "ViewLayer.Depth"}, {"ViewLayer.Depth.Z": np.full((3, 4), 2.5, np.float32)}),
             OpenEXR.Part({"name": "ViewLayer.IndexOB"}, {"ViewLayer.IndexOB.X": np.full((3, 4), 7.0, np.float32)})]
    path = tmp_path / "multi.exr"
    OpenEXR.File(parts).write(str(path))
    back = exr.read_exr_channels(path, ["ViewLayer.IndexOB.X"])  # not in the first part
    assert back["ViewLayer.IndexOB.X"][1, 1] == 7.0


def test_truncated_file_is_refused_when_reading_selected_channels(tmp_path):
    path = exr.write_exr_channels(tmp_path / "t.exr", _channels(64, 64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShotFormatError, match="t.exr.*truncated or corrupt"):
        exr.read_exr_channels(path, ["ViewLayer.Depth.Z"])


QUIET_READER = """
import os, sys
from neural_core.contract.errors import ShotFormatError
from neural_core.contract.shot import exr

for names in (None, ["ViewLayer.Depth.Z"]):
    try:
        exr.read_exr_channels(sys.argv[1], names)
    except ShotFormatError as error:
        print("refused:", error.reason, flush=True)
for function in (exr.exr_size, exr.exr_channel_names):
    try:
        function(sys.argv[2])
    except ShotFormatError as error:
        print("refused:", error.reason, flush=True)
"""


def test_a_truncated_file_is_refused_without_openexrs_own_messages(tmp_path):
    # issue 13.12: OpenEXR's C++ library printed three lines of its own around our error
    import subprocess
    import sys

    from tests.conftest import ROOT

    path = exr.write_exr_channels(tmp_path / "t.exr", _channels(64, 64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.exr").write_bytes(b"not an exr at all" * 10)
    result = subprocess.run([sys.executable, "-c", QUIET_READER, str(path), str(tmp_path / "garbage.exr")],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and all(line.startswith("refused: ") for line in lines), lines
    # what OpenEXR knows about the damage ends up in our one-line error instead
    assert lines[0] == lines[1]
    assert lines[0].startswith("refused: pixel data cannot be read (truncated or corrupt OpenEXR file); OpenEXR says EXR_ERR_")
    assert lines[2].startswith("refused: not a readable OpenEXR file")


QUIET_SECTION = """
import os, sys
from neural_core.contract.shot import exr

print("before", flush=True)
with exr._quiet_openexr() as messages:
    os.write(2, b"/x/t.exr: (EXR_ERR_BAD_CHUNK_LEADER) found corrupt leader\\n")
    os.write(1, b"Warning: Exception raised reading pixel data for part 0 - Unable to query\\n")
    os.write(2, b"another thread's line\\n")
    print("a print inside", flush=True)
print(messages, flush=True)
with exr._quiet_openexr() as messages:  # the capture files start empty again
    pass
print(messages, flush=True)
"""


def test_the_quiet_section_passes_on_everything_but_openexrs_messages():
    import subprocess
    import sys

    from tests.conftest import ROOT

    result = subprocess.run([sys.executable, "-c", QUIET_SECTION], capture_output=True, text=True, timeout=60,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "another thread's line\n"
    assert result.stdout.splitlines() == [
        "before", "a print inside", "['EXR_ERR_BAD_CHUNK_LEADER: found corrupt leader']", "[]"]
