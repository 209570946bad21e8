"""Frame specs (``--frames``): huge ranges cost nothing, missing frames are listed exactly."""

import subprocess
import sys
import textwrap

import pytest

from neural_core.contract.errors import NeuralFaceError
from neural_core.contract.frames import colour_reference_frames, parse_frame_spec, parse_ranges
from tests.conftest import ROOT

MEMORY_LIMIT = 1 << 30  # bytes of address space for the subprocess


def missing_message(spec, available, step=1):
    with pytest.raises(NeuralFaceError) as caught:
        parse_frame_spec(spec, available, step)
    return str(caught.value)


def test_a_billion_frame_range_is_refused_within_one_gigabyte():
    # issue 13.6: "1-1000000000" used to be expanded into a list (23.6 GB, then killed)
    script = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
        from neural_core.contract.errors import NeuralFaceError
        from neural_core.contract.frames import parse_frame_spec
        for spec in ("1-1000000000", "-1000000000-1000000000", "1-48,1-1000000000,5"):
            try:
                parse_frame_spec(spec, range(1, 49))
            except NeuralFaceError as error:
                print(error)
        try:
            parse_frame_spec("1-1000000000", range(1, 48, 2), step=2)
        except NeuralFaceError as error:
            print(error)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "--frames: the shot has no frame 49, 50, 51, 52, 53 ... (it has frames 1-48)"
    assert lines[1].startswith("--frames: the shot has no frame -1000000000, -999999999, ")
    assert lines[2] == lines[0]
    assert lines[3] == "--frames: the shot has no frame 49, 51, 53, 55, 57 ... (it has frames 1-47 in steps of 2)"


def test_ranges_are_read_without_expanding_them():
    assert parse_ranges("1-48, 60,-3--1") == [(1, 48), (60, 60), (-3, -1)]
    with pytest.raises(NeuralFaceError, match="ends before it starts"):
        parse_ranges("9-2")
    with pytest.raises(NeuralFaceError, match="cannot read 'x'"):
        parse_ranges("1-3,x")


def test_selection_is_sorted_without_duplicates():
    assert parse_frame_spec("5,2-3,3-4", range(1, 6)) == [2, 3, 4, 5]
    assert parse_frame_spec(None, [3, 1, 2]) == [1, 2, 3]
    assert parse_frame_spec("all", range(1, 4)) == [1, 2, 3]


def test_missing_frames_inside_before_and_after_the_shot():
    # a gap inside (only possible for a hand-made frame list), before and after the shot
    assert missing_message("1-6", [1, 2, 5, 6]) == "--frames: the shot has no frame 3, 4 (it has frames 1-6)"
    assert missing_message("0-3", range(2, 10)) == "--frames: the shot has no frame 0, 1 (it has frames 2-9)"
    assert missing_message("8-10", range(2, 10)) == "--frames: the shot has no frame 10 (it has frames 2-9)"
    assert missing_message("12", range(2, 10)) == "--frames: the shot has no frame 12 (it has frames 2-9)"


def test_missing_frames_of_several_ranges_are_listed_in_order_once():
    message = missing_message("11-12,0,1-3,12", range(1, 11))
    assert message == "--frames: the shot has no frame 0, 11, 12 (it has frames 1-10)"
    # the smallest five missing numbers, wherever in the spec they come from
    message = missing_message("20-30,12,0-1", range(1, 11))
    assert message == "--frames: the shot has no frame 0, 12, 20, 21, 22 ... (it has frames 1-10)"


def test_ellipsis_only_when_more_are_missing_than_shown():
    assert missing_message("1-15", range(1, 11)).endswith("no frame 11, 12, 13, 14, 15 (it has frames 1-10)")
    assert missing_message("1-16", range(1, 11)).endswith("no frame 11, 12, 13, 14, 15 ... (it has frames 1-10)")
    # five missing, named twice: still five, no "..."
    assert missing_message("11-15,13,15", range(1, 11)).endswith("no frame 11, 12, 13, 14, 15 (it has frames 1-10)")
    assert missing_message("11,11,11", range(1, 11)).endswith("no frame 11 (it has frames 1-10)")


def test_a_stepped_shot_is_selected_by_ranges_like_blenders_frame_step():
    odd = range(1, 48, 2)  # frame_step 2: frames 1, 3, ..., 47
    assert parse_frame_spec("1-48", odd, step=2) == list(odd)
    assert parse_frame_spec("4-9", odd, step=2) == [5, 7, 9]
    assert parse_frame_spec("7", odd, step=2) == [7]
    # only numbers on the shot's step count as missing: 49, 51, not 48, 50
    assert missing_message("40-52", odd, step=2) == \
        "--frames: the shot has no frame 49, 51 (it has frames 1-47 in steps of 2)"
    assert missing_message("-9-0", odd, step=2) == \
        "--frames: the shot has no frame -9, -7, -5, -3, -1 (it has frames 1-47 in steps of 2)"
    assert missing_message("-11-0", odd, step=2).endswith("-9, -7, -5, -3 ... (it has frames 1-47 in steps of 2)")
    # a single number must be a frame of the shot
    assert missing_message("8", odd, step=2) == "--frames: the shot has no frame 8 (it has frames 1-47 in steps of 2)"
    assert missing_message("8,50-60", odd, step=2).endswith("no frame 8, 51, 53, 55, 57 ... (it has frames 1-47 in steps of 2)")
    # a range between two frames selects nothing: refused, not an empty render
    assert "'2-3' selects none of the shot's frames (it has frames 1-46 in steps of 3)" in \
        missing_message("2-3", range(1, 47, 3), step=3)


def test_frames_off_the_step_fall_back_to_every_number():
    # a frame list that is not on one grid (not a valid shot, but parse_frame_spec takes any list)
    assert missing_message("1-5", [1, 3, 4, 5], step=2) == "--frames: the shot has no frame 2 (it has frames 1-5)"


def test_colour_reference_frames_spread_over_the_whole_shot():
    assert colour_reference_frames(range(1, 101)) == [1, 26, 51, 75, 100]
    assert colour_reference_frames(range(1, 49, 2)) == [1, 13, 25, 35, 47]  # the shot's own frames, on its step
    assert colour_reference_frames([7, 8]) == [7, 8]
    assert colour_reference_frames([9]) == [9]
    assert colour_reference_frames([]) == []
    assert colour_reference_frames(range(1, 101), count=3) == [1, 51, 100]
