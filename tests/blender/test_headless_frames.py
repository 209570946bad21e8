"""``--frames`` of the headless entry points (tools/render_shot.py, ``blender -c neural_face render``)."""

import argparse

import pytest

from blender_addon.jobs import headless


def test_frame_ranges_are_read():
    assert headless.frame_range("1-48") == (1, 48)
    assert headless.frame_range("7") == (7, 7)
    assert headless.frame_range("0-1048574") == (0, 1048574)


@pytest.mark.parametrize("text, message", [
    ("1-1000000000", "outside Blender's frames 0-1048574"),  # issue 13.6: the exporter listed every frame
    ("1048575", "outside Blender's frames 0-1048574"),
    ("9-2", "is empty"),
    ("7-", "expected FIRST-LAST"),
    ("a-b", "expected FIRST-LAST"),
    ("-5", "expected FIRST-LAST"),
])
def test_bad_frame_ranges_are_refused_before_any_work(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        headless.frame_range(text)


def test_the_command_line_refuses_a_billion_frames(capsys):
    parser = headless.add_job_arguments(argparse.ArgumentParser(prog="render_shot.py"))
    with pytest.raises(SystemExit) as caught:
        parser.parse_args(["--frames", "1-1000000000"])
    assert caught.value.code == 2
    assert "frame range 1-1000000000 is outside Blender's frames 0-1048574" in capsys.readouterr().err
