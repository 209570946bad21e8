"""``python -m neural_core actor ...`` on the two test photographs (real MediaPipe, real fit).

The Blender side of ``actor build`` is replaced by tests/core/actor_build_stub.py (same
command line and protocol, no Blender). The fit runs with the bundled landmark
calibration when the checkout has it (``calibration`` setting ``auto``).
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neural_core.actor.project import Actor
from neural_core.actor.steps import build as build_step
from neural_core.actor.steps import detect as detect_step
from neural_core.actor.steps import fit as fit_step
from neural_core.cli import main as cli_main
from neural_core.contract.protocol import EXIT_CANCELLED
from neural_core.contract.shot import read_shot, validate_shot
from tests.core.test_footage import PHOTOS

ROOT = Path(__file__).resolve().parents[2]


def actor(capfd, *argv):
    """(exit code, protocol events) of ``actor ARGV --json``."""
    code = cli_main(["actor", *map(str, argv), "--json"])
    out = capfd.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def kinds(events, kind):
    return [e for e in events if e["event"] == kind]


def two_photos(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("astronaut.jpg", "grace_hopper.jpg"):
        shutil.copy(PHOTOS / name, folder / name)
    return folder


def snapshot(root):
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def fitted_actor(tmp_path_factory):
    """An actor of the two photos, detected and fitted (min_frames 2)."""
    base = tmp_path_factory.mktemp("fitted")
    root = base / "actor"
    for argv in (["new", root, "--footage", two_photos(base / "photos"), "--min-frames", "2"], ["detect", root], ["fit", root]):
        assert cli_main(["actor", *map(str, argv), "--json"]) == 0
    return root


def test_detect_and_fit_the_photos(fitted_actor):
    root = fitted_actor
    landmarks = np.load(root / "detect" / "landmarks.npz")
    assert landmarks["found"].tolist() == [True, True] and landmarks["points"].shape == (2, 478, 2)
    assert landmarks["sizes"].tolist() == [[512, 512], [512, 600]]
    assert landmarks["depth"].shape == (2, 478) and np.isfinite(landmarks["depth"]).all()
    assert np.ptp(landmarks["depth"], axis=1).min() > 20  # MediaPipe's relative depth, pixels: a face's relief
    shot = validate_shot(root / "fit" / "shot")
    assert shot.frame_numbers() == [1, 2] and shot.resolution == (512, 512) and len(shot.coefficient_names) == 80
    for number in (1, 2):
        with Image.open(root / "fit" / "crops" / f"{number:04d}.png") as crop:
            assert crop.mode == "RGB" and crop.size == (512, 512)
    table = json.loads((root / "fit" / "frames.json").read_text())
    assert [(e["frame"], e["input"], e["label"]) for e in table["frames"]] == [(1, 0, "astronaut.jpg"), (2, 1, "grace_hopper.jpg")]
    assert table["left_out"] == []
    summary = Actor.open(root).state("fit")["summary"]
    assert summary["shot_frames"] == 2 and summary["not_converged"] == 0
    assert summary["landmark_depth_frames"] == 2  # photos: the fit weighs MediaPipe's depth too
    assert summary["median_residual_iod_percent"] <= 2.0  # issue 14: the real photos fit within 2% IOD
    assert any(note.startswith("pose from the image: 2 frame(s) refined in 3 round(s)") for note in summary["notes"])
    # the shot's landmarks are MediaPipe's points, within a few % IOD, moved into the crop
    for entry, record in zip(table["frames"], shot.frames):
        x0, y0, side = entry["crop"]
        detected = (landmarks["points"][entry["input"]][:468] - (x0, y0)) * 512 / side
        iod = np.linalg.norm(detected[33] - detected[263])
        assert np.median(np.linalg.norm(record.landmarks - detected, axis=1)) < 0.05 * iod


def test_rerunning_finished_steps_rewrites_nothing(fitted_actor, capfd):
    root = fitted_actor
    code, _ = actor(capfd, "report", root)
    assert code == 0
    before = snapshot(root)
    photos = root.parent / "photos"
    for argv in (["new", root, "--footage", photos, "--min-frames", "2"], ["detect", root], ["fit", root], ["report", root]):
        code, events = actor(capfd, *argv)
        assert code == 0
        start = kinds(events, "start")[0]
        assert start.get("up_to_date") or start.get("changed") is False
        assert kinds(events, "frame") == []
    assert snapshot(root) == before


def test_detect_resumes_after_an_interrupt_with_identical_results(tmp_path, capfd, monkeypatch):
    photos = two_photos(tmp_path / "photos")
    shutil.copy(PHOTOS / "astronaut.jpg", photos / "z_again.jpg")
    for name in ("whole", "cut"):
        assert actor(capfd, "new", tmp_path / name, "--footage", photos, "--min-frames", "2")[0] == 0
    assert actor(capfd, "detect", tmp_path / "whole")[0] == 0
    save = detect_step.save_npz

    def save_then_signal(path, **arrays):  # SIGTERM arrives while the first frame is being written
        written = save(path, **arrays)
        if path.parent.name == "frames":
            os.kill(os.getpid(), signal.SIGTERM)
        return written

    monkeypatch.setattr(detect_step, "save_npz", save_then_signal)
    code, events = actor(capfd, "detect", tmp_path / "cut")
    assert code == 3 and kinds(events, "error")[0]["kind"] == "cancelled"
    assert [e["frame"] for e in kinds(events, "frame")] == [0]  # the frame in hand was finished
    assert Actor.open(tmp_path / "cut").status("detect") == "running"
    (tmp_path / "cut" / "detect" / "frames" / ".000001.npz.tmp-99999").write_bytes(b"partial")  # left by a kill
    monkeypatch.setattr(detect_step, "save_npz", save)
    code, events = actor(capfd, "detect", tmp_path / "cut")
    assert code == 0 and kinds(events, "start")[0]["resumed"] == 1
    assert [(e["frame"], e["skipped"]) for e in kinds(events, "frame")] == [(0, True), (1, False), (2, False)]
    whole, cut = (np.load(tmp_path / name / "detect" / "landmarks.npz") for name in ("whole", "cut"))
    for key in whole.files:
        np.testing.assert_array_equal(whole[key], cut[key], err_msg=key)


def test_bad_photos_are_listed_and_the_minimum_enforced(tmp_path, capfd):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(PHOTOS / "astronaut.jpg", photos / "a_astronaut.jpg")
    shutil.copy(PHOTOS / "grace_hopper.jpg", photos / "b_grace.jpg")
    Image.new("RGB", (320, 240), (90, 140, 200)).save(photos / "c_sky.png")  # no face
    Image.open(PHOTOS / "astronaut.jpg").resize((60, 60), Image.LANCZOS).save(photos / "d_tiny.jpg")  # face under 64 px
    (photos / "e_cut.jpg").write_bytes((PHOTOS / "grace_hopper.jpg").read_bytes()[:5000])  # truncated
    grace = Image.open(PHOTOS / "grace_hopper.jpg")  # two faces (as tests/core/test_landmarks.py): the larger is kept
    grace = grace.resize((round(grace.width * 360 / grace.height), 360), Image.LANCZOS)
    pair = Image.new("RGB", (512 + grace.width, 512))
    pair.paste(Image.open(PHOTOS / "astronaut.jpg"), (0, 0))
    pair.paste(grace, (512, 76))
    pair.save(photos / "f_pair.png")
    (photos / "notes.txt").write_text("shot on a Tuesday\n")
    root = tmp_path / "actor"
    code, events = actor(capfd, "new", root, "--footage", photos, "--min-frames", "4")
    assert code == 0 and kinds(events, "warning")[0]["message"].endswith("ignored 1 file(s) that are not JPEG or PNG: notes.txt")
    code, events = actor(capfd, "detect", root)
    assert code == 2
    error = kinds(events, "error")[0]["message"]
    assert error == ("only 3 of 6 input frame(s) have a usable face; an actor needs at least 4 (--min-frames): "
                     "add footage, or lower --min-frames")
    warnings = " | ".join(e["message"] for e in kinds(events, "warning"))
    assert "3 of 6 input frame(s) skipped" in warnings
    assert "c_sky.png: no face found" in warnings and "d_tiny.jpg: face too small" in warnings
    assert "e_cut.jpg: unreadable" in warnings and "several faces in 1 input frame(s), the largest kept: f_pair.png" in warnings
    landmarks = np.load(root / "detect" / "landmarks.npz")  # written all the same
    assert landmarks["found"].tolist() == [True, True, False, False, False, True]
    assert landmarks["points"][5][:, 0].min() > 512  # Grace Hopper's face, the larger one here, was kept
    code, events = actor(capfd, "detect", root, "--min-frames", "3")  # the gate only: no frame is detected again
    assert code == 0 and all(e["skipped"] for e in kinds(events, "frame"))
    code, events = actor(capfd, "fit", root)
    assert code == 0 and read_shot(root / "fit" / "shot").frame_numbers() == [1, 2, 3]
    refining = [e for e in kinds(events, "progress") if e.get("stage", "").startswith("fit: pose, jaw and gaze from the image ")]
    # 3 frames x (3 rounds of the pose + 3 of the jaw + the gaze's iris regions and 2 texture rounds):
    # the bar moves through them (every 10th and the last)
    assert [(e["done"], e["total"]) for e in refining] == [(10, 27), (20, 27), (27, 27)]
    left_out = json.loads((root / "fit" / "frames.json").read_text())["left_out"]
    assert [e["label"] for e in left_out] == ["c_sky.png", "d_tiny.jpg", "e_cut.jpg"]
    code = cli_main(["actor", "status", str(root)])
    out = capfd.readouterr().out
    assert code == 0 and "fit     done" in out and "c_sky.png: no face found" in out


def test_frames_whose_fit_does_not_converge_are_left_out(fitted_actor, tmp_path, capfd, monkeypatch):
    root = tmp_path / "actor"
    shutil.copytree(fitted_actor, root)
    real = fit_step.fit_actor

    def first_not_converged(*args, **kwargs):
        fit = real(*args, **kwargs)
        fit.frames[0].converged = False
        return fit

    monkeypatch.setattr(fit_step, "fit_actor", first_not_converged)
    code, events = actor(capfd, "fit", root, "--crop-size", "256")  # a changed setting: the fit runs again
    assert code == 2
    assert "astronaut.jpg: fit did not converge" in kinds(events, "warning")[-1]["message"]
    assert kinds(events, "error")[0]["message"].startswith(
        "only 1 of 2 input frame(s) are usable (0 without a usable face, 1 not converged); an actor needs at least 2")
    code, events = actor(capfd, "fit", root, "--min-frames", "1")  # resumes from the saved fit
    assert code == 0
    shot = read_shot(root / "fit" / "shot")
    assert shot.frame_numbers() == [1] and shot.resolution == (256, 256)
    assert shot.source["frames"][0]["label"] == "grace_hopper.jpg"


def test_status_piped_to_a_reader_that_goes_away_exits_quietly(tmp_path, capfd):
    """`actor status DIR | head`: no traceback when head stops reading."""
    root = tmp_path / "actor"
    assert actor(capfd, "new", root, "--footage", two_photos(tmp_path / "photos"), "--min-frames", "2")[0] == 0
    command = [sys.executable, "-m", "neural_core", "actor", "status", str(root)]
    status = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    status.stdout.close()
    stderr = status.stderr.read().decode()
    assert status.wait(timeout=60) == EXIT_CANCELLED and stderr == ""
    shown = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert shown.returncode == 0 and "detect  not run" in shown.stdout  # read to the end, it still shows it all


def test_a_full_disk_stops_with_one_line_and_keeps_what_was_written(tmp_path, capfd, monkeypatch):
    root = tmp_path / "actor"
    assert actor(capfd, "new", root, "--footage", two_photos(tmp_path / "photos"), "--min-frames", "2")[0] == 0
    real, calls = detect_step.write_atomically, []

    def full_after_one(path, write):
        calls.append(path)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(path.with_name(f".{path.name}.tmp-1")))
        return real(path, write)

    monkeypatch.setattr(detect_step, "write_atomically", full_after_one)
    code, events = actor(capfd, "detect", root)
    assert code == 2
    message = kinds(events, "error")[0]["message"]
    assert "cannot write" in message and ".000001.npz.tmp-1: No space left on device" in message and "\n" not in message
    assert np.load(root / "detect" / "frames" / "000000.npz")["points"].shape == (478, 2)  # kept
    monkeypatch.setattr(detect_step, "write_atomically", real)
    code, events = actor(capfd, "detect", root)
    assert code == 0 and kinds(events, "start")[0]["resumed"] == 1


def test_bad_footage_at_new_is_one_line(tmp_path, capfd):
    from tests.core.test_footage import import_av

    av = import_av()
    with av.open(str(tmp_path / "voice.m4a"), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(4):
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 16000, i * 1024
            container.mux(stream.encode(samples))
        container.mux(stream.encode())
    code, events = actor(capfd, "new", tmp_path / "actor", "--footage", tmp_path / "voice.m4a")
    assert code == 2 and kinds(events, "error")[0]["message"].endswith("voice.m4a: has no video stream (found: 1 audio)")
    (tmp_path / "cut.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    code, events = actor(capfd, "new", tmp_path / "actor", "--footage", tmp_path / "cut.mp4")
    assert code == 2 and "cut.mp4: not a video FFmpeg can read" in kinds(events, "error")[0]["message"]
    assert not (tmp_path / "actor").exists()
    code, events = actor(capfd, "fit", tmp_path / "nowhere")
    assert code == 2 and "no actor here" in kinds(events, "error")[0]["message"]


def test_build_train_report_through_a_stand_in_blender_side(fitted_actor, tmp_path, capfd, monkeypatch):
    root = tmp_path / "actor"
    shutil.copytree(fitted_actor, root)
    monkeypatch.setattr(build_step, "MODULE", "tests.core.actor_build_stub")
    record = tmp_path / "argv.jsonl"
    monkeypatch.setenv("ACTOR_BUILD_STUB_RECORD", str(record))
    code, events = actor(capfd, "train", root)
    assert code == 2 and "step 'build' is not run; run python -m neural_core actor build" in kinds(events, "error")[0]["message"]
    monkeypatch.setenv("ACTOR_BUILD_STUB_FAIL", "1")
    code, events = actor(capfd, "build", root, "--resolution", "64")
    assert code == 2 and "the stub refuses this shot" in kinds(events, "error")[0]["message"]
    monkeypatch.delenv("ACTOR_BUILD_STUB_FAIL")
    code, events = actor(capfd, "build", root)
    assert code == 0 and [e["frame"] for e in kinds(events, "frame")] == [1, 2]
    argv = json.loads(record.read_text().splitlines()[-1])
    assert argv == ["--shot", str(root / "fit" / "shot"), "--crops", str(root / "fit" / "crops"), "--out", str(root / "build"),
                    "--json", "--resolution", "64"]  # the stored setting
    assert (root / "build" / "frames.json").is_file() and len(read_shot(root / "build" / "shot").passes) == 5
    assert kinds(actor(capfd, "build", root)[1], "start")[0]["up_to_date"]
    code, events = actor(capfd, "train", root, "--steps", "2", "--config", "model=tiny", "--config", "resolution=32",
                         "--config", "sample_every=0", "--device", "cpu")
    assert code == 0 and kinds(events, "progress")[-1]["done"] == 2 and (root / "model" / "ema.safetensors").is_file()
    assert (kinds(events, "done")[0]["done"], kinds(events, "done")[0]["total"]) == (2, 2)  # steps, not frames (was 0)
    assert kinds(actor(capfd, "train", root)[1], "start")[0]["up_to_date"]
    # a setting a run may change as it goes (the lr) continues the run instead of starting a new one
    code, events = actor(capfd, "train", root, "--steps", "3", "--config", "lr=0.0005", "--device", "cpu")
    assert code == 0 and kinds(events, "progress")[-1]["done"] == 3
    assert not list(root.glob("model.stale-*")) and json.loads((root / "model" / "config.json").read_text())["train"]["lr"] == 0.0005
    assert Actor.open(root).setting("train_config")["model"] == "tiny"  # --config adds to the stored settings
    code, events = actor(capfd, "report", root, "--rows", "1")
    assert code == 0, events
    summary = Actor.open(root).state("report")["summary"]
    assert summary["columns"][2:] == ["normal", "depth", "regions", "model"] and summary["rows"] == 1
    with Image.open(root / "report" / "contact_sheet.png") as sheet:
        assert sheet.size == (6 * 192, 18 + 192)


def test_status_shows_a_stale_detect_whose_landmarks_an_older_version_wrote(fitted_actor, tmp_path, capfd):
    from neural_core.actor.steps.detect import VERSION as LANDMARKS_VERSION

    root = tmp_path / "actor"
    shutil.copytree(fitted_actor, root)
    path = root / "detect" / "landmarks.npz"
    with np.load(path) as data:
        old = {**data, "version": np.array(1)}  # landmarks.npz v1: before the depth
    np.savez(path, **old)
    assert Actor.open(root).update_settings({"min_face_px": 65})  # detect is stale now (as records v2 made it in session 21)
    code, events = actor(capfd, "status", root)
    assert code == 0 and [kinds(events, "start")[0]["steps"][s]["status"] for s in ("detect", "fit")] == ["stale", "stale"]
    code, events = actor(capfd, "fit", root)
    assert code == 2 and "step 'detect' is stale" in kinds(events, "error")[0]["message"]
    Actor.open(root).update_settings({"min_face_px": 64})  # detect done again, over an old version's file
    code, events = actor(capfd, "fit", root, "--crop-size", "256")
    assert code == 2 and kinds(events, "error")[0]["message"] == (f"{path}: landmarks version 1; this Neural Face reads "
                                                                   f"version {LANDMARKS_VERSION}: "
                                                                   f"run python -m neural_core actor detect {root} again")


def test_the_steps_after_detect_go_on_where_the_footage_is_not(tmp_path, capfd, monkeypatch):
    """An actor folder copied to a training machine without its footage (or the footage
    archived): the done steps stand, training goes on with build/ alone, each step warns
    once; detection itself still needs the footage."""
    root, photos = tmp_path / "actor", two_photos(tmp_path / "photos")
    for argv in (["new", root, "--footage", photos, "--min-frames", "2"], ["detect", root], ["fit", root]):
        assert actor(capfd, *argv)[0] == 0
    monkeypatch.setattr(build_step, "MODULE", "tests.core.actor_build_stub")
    assert actor(capfd, "build", root, "--resolution", "32")[0] == 0
    shutil.rmtree(photos)
    warning = (f"{photos}: cannot be read (No such file or directory): "
               "the footage is not here; the steps after detect use its recorded results")
    for step in ("detect", "fit", "build"):
        code, events = actor(capfd, step, root)
        assert code == 0 and kinds(events, "start")[0]["up_to_date"], step
        assert [e["message"] for e in kinds(events, "warning")] == [warning]
    for folder in ("detect", "fit"):  # training reads build/ (and actor.json, state/) alone
        shutil.rmtree(root / folder)
    code, events = actor(capfd, "train", root, "--steps", "1", "--config", "model=tiny", "--config", "resolution=32",
                         "--config", "sample_every=0", "--device", "cpu", "--preset", "cuda-512")
    assert code == 0 and kinds(events, "progress")[-1]["done"] == 1 and kinds(events, "warning")[-1]["message"] == warning
    # the GPU preset on a CPU says so (a tiny model here; the preset's own takes minutes per step)
    assert kinds(events, "warning")[0]["message"].startswith("the cuda-512 preset is training on the CPU")
    start = kinds(actor(capfd, "status", root)[1], "start")[0]
    assert start["footage_missing"] == warning
    assert [start["steps"][s]["status"] for s in ("detect", "fit", "build", "train")] == ["done"] * 4
    Actor.open(root).update_settings({"min_face_px": 65})  # a detect setting changed: detection needs the footage
    code, events = actor(capfd, "train", root)
    assert code == 2 and kinds(events, "error")[0]["message"] == (
        f"{photos}: cannot be read (No such file or directory); detection must run again (its settings changed since it ran), "
        "which needs the footage")
    fresh, more = tmp_path / "fresh", two_photos(tmp_path / "more")
    assert actor(capfd, "new", fresh, "--footage", more, "--min-frames", "2")[0] == 0
    shutil.rmtree(more)
    code, events = actor(capfd, "detect", fresh)
    assert code == 2 and kinds(events, "error")[0]["message"] == f"{more}: cannot be read (No such file or directory)"


def test_a_cancelled_build_passes_the_signal_on(fitted_actor, tmp_path, capfd, monkeypatch):
    root = tmp_path / "actor"
    shutil.copytree(fitted_actor, root)
    monkeypatch.setattr(build_step, "MODULE", "tests.core.actor_build_stub")
    monkeypatch.setenv("ACTOR_BUILD_STUB_SLEEP", "1.0")
    parse = build_step.parse_event

    def signal_at_start(line):
        event = parse(line)
        if event.get("event") == "start":  # the Blender side is under way: cancel us
            os.kill(os.getpid(), signal.SIGTERM)
        return event

    monkeypatch.setattr(build_step, "parse_event", signal_at_start)
    code, events = actor(capfd, "build", root)
    assert code == 3 and kinds(events, "error")[0]["kind"] == "cancelled"
    # stopped before its first frame or after finishing the one in hand (when the SIGINT reached it)
    assert [e["frame"] for e in kinds(events, "frame")] in ([], [1])
    assert Actor.open(root).status("build") == "running"
    monkeypatch.setattr(build_step, "parse_event", parse)
    monkeypatch.setenv("ACTOR_BUILD_STUB_SLEEP", "0")
    assert actor(capfd, "build", root)[0] == 0 and Actor.open(root).status("build") == "done"


def test_an_interrupted_fit_resumes_from_the_saved_fit_with_identical_crops(fitted_actor, tmp_path, capfd, monkeypatch):
    for name in ("whole", "cut"):
        shutil.copytree(fitted_actor, tmp_path / name)
    assert actor(capfd, "fit", tmp_path / "whole", "--crop-size", "128")[0] == 0
    write_crop = fit_step.write_crop

    def crop_then_signal(path, image, box):
        written = write_crop(path, image, box)
        os.kill(os.getpid(), signal.SIGTERM)
        return written

    monkeypatch.setattr(fit_step, "write_crop", crop_then_signal)
    code, events = actor(capfd, "fit", tmp_path / "cut", "--crop-size", "128")
    assert code == 3 and [e["frame"] for e in kinds(events, "frame")] == [0]
    assert not (tmp_path / "cut" / "fit" / "crops" / "0002.png").exists()
    monkeypatch.setattr(fit_step, "write_crop", write_crop)
    monkeypatch.setattr(fit_step, "fit_actor", lambda *a, **k: pytest.fail("the saved fit is not solved again"))
    code, events = actor(capfd, "fit", tmp_path / "cut")
    assert code == 0 and [(e["frame"], e["skipped"]) for e in kinds(events, "frame")] == [(0, True), (1, False)]
    for relative in ("fit/shot/shot.json", "fit/frames.json", "fit/crops/0001.png", "fit/crops/0002.png"):
        whole, cut = ((tmp_path / name / relative).read_bytes().replace(str(tmp_path / name).encode(), b"ACTOR")
                      for name in ("whole", "cut"))  # shot.json names its actor folder
        assert whole == cut, relative
    whole, cut = (np.load(tmp_path / name / "fit" / "fit.npz") for name in ("whole", "cut"))
    for key in set(whole.files) - {"seconds"}:  # the solve's wall time differs
        np.testing.assert_array_equal(whole[key], cut[key], err_msg=key)


def test_a_video_actor_with_a_stride(tmp_path, capfd):
    from tests.core.test_footage import moving_face, write_video

    video = write_video(tmp_path / "clip.mp4", moving_face(9, size=256))
    root = tmp_path / "actor"
    code, events = actor(capfd, "new", root, "--footage", video, "--stride", "2", "--min-frames", "3")
    assert code == 0 and kinds(events, "start")[0]["input_frames"] == 5 and kinds(events, "start")[0]["kind"] == "video"
    assert actor(capfd, "detect", root)[0] == 0
    assert np.load(root / "detect" / "landmarks.npz")["indices"].tolist() == [0, 2, 4, 6, 8]
    code, events = actor(capfd, "fit", root)
    assert code == 0
    shot = read_shot(root / "fit" / "shot")
    assert shot.fps == pytest.approx(12.5) and shot.frame_numbers() == [1, 2, 3, 4, 5]
    focal = {round(float(record.K[0, 0] / (512 / entry["crop"][2])), 6)
             for record, entry in zip(shot.frames, shot.source["frames"])}
    assert len(focal) == 1  # one camera: one focal length for the whole video
    assert [e["index"] for e in shot.source["frames"]] == [0, 2, 4, 6, 8]
    assert shot.source["frames"][1]["label"] == "clip.mp4 frame 2"


def test_two_clips_fit_as_one_video_actor_without_smoothing_across_the_cut(tmp_path, capfd, monkeypatch):
    from neural_core.actor.steps import fit as fit_step
    from tests.core.test_footage import moving_face, write_video

    clips = [write_video(tmp_path / "a.mp4", moving_face(3, size=256)), write_video(tmp_path / "b.mp4", moving_face(3, size=256))]
    root = tmp_path / "actor"
    code, events = actor(capfd, "new", root, "--footage", *clips, "--min-frames", "3")
    assert code == 0 and kinds(events, "start")[0]["input_frames"] == 6 and kinds(events, "start")[0]["kind"] == "video"
    assert actor(capfd, "detect", root)[0] == 0
    seen = {}
    real_fit = fit_step.fit_actor

    def recording_fit(*args, **kwargs):
        seen["segments"] = kwargs["segments"]
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(fit_step, "fit_actor", recording_fit)
    assert actor(capfd, "fit", root)[0] == 0
    assert seen["segments"] == [0, 0, 0, 1, 1, 1]
    shot = read_shot(root / "fit" / "shot")
    assert [e["label"] for e in shot.source["frames"]][2:4] == ["a.mp4 frame 2", "b.mp4 frame 0"]


def test_detect_averages_views_and_the_mirror_image_unless_told_not_to(tmp_path, capfd):
    from neural_core.actor.photos import load_photo
    from neural_core.actor.landmarks import LandmarkDetector
    from neural_core.actor.project import SETTINGS

    root = tmp_path / "actor"
    photos = two_photos(tmp_path / "photos")
    assert actor(capfd, "new", root, "--footage", photos, "--min-frames", "2")[0] == 0
    images = [load_photo(photos / name).image for name in ("astronaut.jpg", "grace_hopper.jpg")]
    views = SETTINGS["detection_views"][0]
    assert views > 1
    expected = {}
    for mirror, count in ((True, views), (False, views), (False, 1)):
        with LandmarkDetector(mirror=mirror, views=count) as detector:
            expected[mirror, count] = np.stack([detector.detect(image).face.points for image in images])
    assert actor(capfd, "detect", root)[0] == 0
    assert np.allclose(np.load(root / "detect" / "landmarks.npz")["points"], expected[True, views], atol=1e-9)
    code, events = actor(capfd, "detect", root, "--no-mirror")
    assert code == 0 and len(kinds(events, "frame")) == 2  # the setting changed: detected again
    assert np.allclose(np.load(root / "detect" / "landmarks.npz")["points"], expected[False, views], atol=1e-9)
    assert Actor.open(root).setting("mirror_detection") is False
    code, events = actor(capfd, "detect", root, "--views", "1")
    assert code == 0 and len(kinds(events, "frame")) == 2
    assert np.allclose(np.load(root / "detect" / "landmarks.npz")["points"], expected[False, 1], atol=1e-9)
    assert Actor.open(root).setting("detection_views") == 1
