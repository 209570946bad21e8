"""tools/demo.py's progress display: one updating line on a terminal, few plain lines otherwise."""

import io
import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import demo  # noqa: E402


class FakeConsole:
    def __init__(self, tty):
        self.out = io.StringIO()
        self.tty = tty

    def line(self, text=""):
        self.out.write(text + "\n")


def test_terminal_gets_one_line_rewritten_in_place():
    console = FakeConsole(tty=True)
    bar = demo.Progress(console, "frames exported", 48)
    for done in range(1, 49):
        bar.update(done)
    bar.close()
    text = console.out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") == 49  # 0/48 at once, then each frame
    assert "0/48 frames exported" in text.split("\r")[1]
    assert "48/48 frames exported" in text.splitlines()[-1].split("\r")[-1]


def test_a_log_gets_a_plain_line_per_tenth():
    console = FakeConsole(tty=False)
    bar = demo.Progress(console, "faces synthesised", 48)
    for done in range(1, 49):
        bar.update(done)
        bar.update(done)  # a repeated count prints nothing more
    lines = console.out.getvalue().splitlines()
    assert "\r" not in console.out.getvalue()
    assert 5 <= len(lines) <= 11
    assert lines[-1].startswith("   48/48 faces synthesised")


def test_a_warning_gets_its_own_line_above_the_bar():
    console = FakeConsole(tty=True)
    bar = demo.Progress(console, "faces synthesised", 4)
    bar.update(1)
    bar.note("warning: jawOpen held at 0")
    bar.update(4)
    lines = console.out.getvalue().split("\n")
    assert lines[1] == "   warning: jawOpen held at 0"
    assert "4/4" in lines[2]
