"""tools/make_dataset.py and tools/make_synthetic_actor.py on tools/blender_script.py: their
options and defaults, the arguments after Blender's ``--``, bad input as one ``error:`` line
and exit status 2."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_dataset():
    return load_script("make_dataset")


@pytest.fixture(scope="module")
def make_synthetic_actor():
    return load_script("make_synthetic_actor")


def test_the_dataset_script_keeps_its_options_and_defaults(make_dataset):
    args = vars(make_dataset.parse_args([]))
    assert args == {"out": str(ROOT / "data" / "faces"), "seed": 0, "samples": 12, "resolution": 256, "max_minutes": 0.0,
                    "frames": 2000, "chunk": 32, "denoise": False, "first_chunk": 0}
    args = make_dataset.parse_args(["--out", "x", "--frames", "64", "--chunk", "8", "--seed", "3", "--resolution", "128",
                                    "--samples", "4", "--denoise", "--first-chunk", "2", "--max-minutes", "1.5"])
    assert (args.out, args.frames, args.chunk, args.seed, args.resolution, args.samples, args.denoise, args.first_chunk,
            args.max_minutes) == ("x", 64, 8, 3, 128, 4, True, 2, 1.5)


def test_the_synthetic_actor_script_keeps_its_options_and_defaults(make_synthetic_actor):
    args = vars(make_synthetic_actor.parse_args([]))
    assert args == {"out": str(ROOT / "data" / "synthetic_actor"), "seed": 0, "samples": 16, "resolution": 512,
                    "max_minutes": 0.0, "train": 600, "held_out": 64, "video_frames": 48, "appearance": []}
    args = make_synthetic_actor.parse_args(["--train", "5", "--held-out", "2", "--video-frames", "0", "--seed", "7",
                                            "--appearance", "hair_darkness=0.95", "skin_tone=0"])
    assert (args.train, args.held_out, args.video_frames, args.seed) == (5, 2, 0, 7)
    assert make_synthetic_actor.appearance_overrides(args.appearance) == {"hair_darkness": 0.95, "skin_tone": 0.0}
    with pytest.raises(SystemExit, match="hair_darkness=dark"):
        make_synthetic_actor.appearance_overrides(["hair_darkness=dark"])


@pytest.mark.parametrize("script", ["make_dataset", "make_synthetic_actor"])
def test_both_scripts_read_the_arguments_after_blenders_double_dash(script, monkeypatch, request):
    module = request.getfixturevalue(script)
    monkeypatch.setattr(sys, "argv", ["blender", "-b", "--python", f"tools/{script}.py", "--", "--seed", "5"])
    assert module.parse_args().seed == 5
    monkeypatch.setattr(sys, "argv", [f"tools/{script}.py", "--seed", "6"])
    assert module.parse_args().seed == 6


def test_the_dataset_script_renders_nothing_for_zero_frames_and_exits_0(make_dataset, tmp_path):
    assert make_dataset.main(["--out", str(tmp_path / "faces"), "--frames", "0"]) == 0
    assert (tmp_path / "faces" / "dataset.json").is_file()


def test_bad_input_is_one_error_line_and_exit_status_2(make_dataset, make_synthetic_actor, tmp_path, capsys):
    out = tmp_path / "faces"
    assert make_dataset.main(["--out", str(out), "--frames", "0", "--seed", "1"]) == 0
    assert make_dataset.main(["--out", str(out), "--frames", "0", "--seed", "2"]) == 2  # another recipe in the same folder
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {out} was made with")

    assert make_synthetic_actor.main(["--out", str(tmp_path / "actor"), "--resolution", "63"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: resolution 63 is odd: the video's 4:2:0 colour needs an even image side"]
    assert not (tmp_path / "actor").exists()
