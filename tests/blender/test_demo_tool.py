"""tools/demo.py as the user runs it (a subprocess): a bad --model fails at once with one
line and exit status 2, before any Blender work; a run keeps Blender's render log out of
the terminal."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DEMO = ROOT / "tools" / "demo.py"
pytestmark = pytest.mark.timeout(600)


def run_demo(tmp_path, *args, timeout=120):
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    return subprocess.run([sys.executable, str(DEMO), "--out", str(tmp_path / "out"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)


def assert_one_clean_error_line(result, *words):
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("demo: error: "), result.stderr
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert "Not freed memory" not in result.stdout + result.stderr


def test_missing_model_is_one_line_and_exit_2_before_any_blender_work(tmp_path):
    missing = tmp_path / "nope.safetensors"
    result = run_demo(tmp_path, "--model", missing)
    assert_one_clean_error_line(result, str(missing), "no such file")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"not a checkpoint\n", (ROOT / "neural_core/models/default.safetensors").read_bytes()[:4096]],
                         ids=["garbage", "truncated"])
def test_corrupt_model_is_one_line_and_exit_2_before_any_blender_work(tmp_path, content):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(content)
    result = run_demo(tmp_path, "--model", corrupt)
    assert_one_clean_error_line(result, str(corrupt))
    assert not (tmp_path / "out").exists()


def test_a_run_shows_stages_bars_and_total_and_keeps_blenders_log_apart(tmp_path):
    result = run_demo(tmp_path, "--frames", "2", "--resolution", "64", "--samples", "1", timeout=540)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp_path / "out"
    lines = result.stdout.splitlines()
    assert "Fra:" not in result.stdout and "Saved:" not in result.stdout
    assert len(lines) <= 60, result.stdout
    assert any(line.strip().endswith("s  total") for line in lines), result.stdout
    assert "   2/2 frames exported" in result.stdout.replace(" (", "\n")
    assert "   2/2 faces synthesised" in result.stdout.replace(" (", "\n")
    assert "   2/2 frames composited" in result.stdout.replace(" (", "\n")
    log = out / "blender.log"
    assert f"Blender's render log: {log}" in result.stdout
    text = log.read_text()
    assert "Fra:" in text or "Saved:" in text  # Blender's own render lines (4.5 "Fra: ...", 5.0 "render | Saved: ...")
    assert result.stderr.strip() == "", result.stderr[-2000:]
    assert sorted(p.name for p in (out / "composite").glob("*.png")) == ["0001.png", "0002.png"]
    assert (out / "contact_sheet.png").is_file()
