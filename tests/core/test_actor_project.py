"""neural_core.actor.project: the actor folder, its settings and each step's input hash and state."""

import errno
import json
import os

import numpy as np
import pytest
from PIL import Image

from neural_core.actor.footage import FootageError
from neural_core.actor.input_frames import FootageReader, list_input_frames
from neural_core.actor.project import ACTOR_FILE, Actor, ActorError, storage_errors
from tests.core.test_footage import moving_face, write_video


def photos(folder, count=3):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"img_{i + 1}.png")
    return folder


def finish(actor, step, outputs="out"):
    inputs = actor.inputs(step)
    actor.begin(step, inputs)
    actor.finish(step, inputs, outputs, {"frames": 1})


def test_new_actor_file_and_footage_paths(tmp_path):
    inside = photos(tmp_path / "actor" / "footage")
    outside = photos(tmp_path / "elsewhere")
    actor, changed = Actor.create(tmp_path / "actor", [inside, outside / "img_2.png"], stride=1)
    assert changed
    data = json.loads((tmp_path / "actor" / ACTOR_FILE).read_text())
    assert data["format"] == "neural-face-actor" and data["version"] == 1 and data["kind"] == "photos"
    assert data["footage"] == ["footage", str((outside / "img_2.png").resolve())]  # relative only inside the actor
    assert data["stride"] == 1 and data["created"]
    again = Actor.open(tmp_path / "actor")
    assert again.footage_paths() == [inside.resolve(), (outside / "img_2.png").resolve()]
    labels = [f.label for f in list_input_frames(again)]
    assert labels == ["img_1.png", "img_2.png", "img_3.png", "img_2.png"]
    with FootageReader(again) as reader:
        frames = list_input_frames(again)
        assert reader.read(frames[2]).image[0, 0, 0] == 80 and reader.read(frames[3]).image[0, 0, 0] == 40


def test_new_again_with_the_same_footage_rewrites_nothing(tmp_path):
    footage = photos(tmp_path / "photos")
    Actor.create(tmp_path / "actor", [footage])
    stamp = (tmp_path / "actor" / ACTOR_FILE).stat().st_mtime_ns
    _, changed = Actor.create(tmp_path / "actor", [footage])
    assert not changed and (tmp_path / "actor" / ACTOR_FILE).stat().st_mtime_ns == stamp
    _, changed = Actor.create(tmp_path / "actor", [footage], stride=2)
    assert changed


def test_bad_footage_is_named_at_new(tmp_path):
    with pytest.raises(FootageError, match=r"missing: no such file or folder"):
        Actor.create(tmp_path / "actor", [tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FootageError, match=r"empty: no JPEG or PNG photos in this folder"):
        Actor.create(tmp_path / "actor", [tmp_path / "empty"])
    (tmp_path / "notes.txt").write_text("hello\n" * 50)
    with pytest.raises(FootageError, match=r"notes\.txt: not a video"):
        Actor.create(tmp_path / "actor", [tmp_path / "notes.txt"])
    video = write_video(tmp_path / "clip.mp4", moving_face(4, size=32))
    with pytest.raises(ActorError, match="photos .* or videos, not a mix"):
        Actor.create(tmp_path / "actor", [photos(tmp_path / "p"), video])
    with pytest.raises(ActorError, match="stride"):
        Actor.create(tmp_path / "actor", [video], stride=0)
    assert not (tmp_path / "actor").exists()  # nothing made for bad input


def test_several_clips_make_one_video_actor_numbered_across_the_clips(tmp_path):
    first = write_video(tmp_path / "a.mp4", moving_face(3, size=32))
    second = write_video(tmp_path / "b.mp4", moving_face(2, size=32))
    actor, _ = Actor.create(tmp_path / "actor", [first, second])
    assert actor.kind == "video"
    frames = list_input_frames(actor)
    assert [(f.number, f.entry, f.index) for f in frames] == [(0, 0, 0), (1, 0, 1), (2, 0, 2), (3, 1, 0), (4, 1, 1)]
    assert frames[3].label == "b.mp4 frame 0"


def test_video_input_frames_follow_the_stride(tmp_path):
    video = write_video(tmp_path / "clip.mp4", moving_face(7, size=32))
    actor, _ = Actor.create(tmp_path / "actor", [video], stride=3)
    frames = list_input_frames(actor)
    assert actor.kind == "video" and [f.index for f in frames] == [0, 3, 6]
    assert frames[1].label == "clip.mp4 frame 3"
    with FootageReader(actor) as reader:
        assert reader.read(frames[2]).index == 6


def test_malformed_or_missing_actor_files(tmp_path):
    with pytest.raises(ActorError, match="no actor here .*actor new"):
        Actor.open(tmp_path)
    (tmp_path / ACTOR_FILE).write_text("{not json")
    with pytest.raises(ActorError, match="actor.json: cannot be read"):
        Actor.open(tmp_path)
    (tmp_path / ACTOR_FILE).write_text(json.dumps({"format": "neural-face-actor", "version": 1, "footage": [], "kind": "x",
                                                   "stride": 1, "settings": {}}))
    with pytest.raises(ActorError, match="field 'kind'"):
        Actor.open(tmp_path)
    (tmp_path / ACTOR_FILE).write_text(json.dumps({"format": "neural-face-actor", "version": 9}))
    with pytest.raises(ActorError, match="version 9"):
        Actor.open(tmp_path)


def test_steps_are_done_until_their_inputs_change(tmp_path):
    footage = photos(tmp_path / "photos")
    actor, _ = Actor.create(tmp_path / "actor", [footage])
    assert [actor.status(s) for s in ("detect", "fit")] == ["not run", "not run"]
    assert actor.inputs("fit") is None  # detect not done
    with pytest.raises(ActorError, match="step 'detect' is not run; run python -m neural_core actor detect"):
        actor.require("detect")
    finish(actor, "detect")
    finish(actor, "fit")
    assert actor.status("detect") == actor.status("fit") == "done"
    # a changed photo (size or time) makes detection and everything after it stale
    os.utime(footage / "img_2.png", ns=(1, 1))
    assert actor.status("detect") == "stale" and actor.status("fit") == "stale"
    finish(actor, "detect")  # detection found the same landmarks: the fit of them still holds
    assert actor.status("fit") == "done"
    finish(actor, "detect", outputs="other landmarks")
    assert actor.status("fit") == "stale"


def test_settings_change_only_the_steps_that_read_them(tmp_path):
    actor, _ = Actor.create(tmp_path / "actor", [photos(tmp_path / "photos")])
    finish(actor, "detect")
    finish(actor, "fit")
    assert actor.update_settings({"min_frames": 2}) and actor.status("detect") == actor.status("fit") == "done"
    assert not actor.update_settings({"crop_size": None, "min_frames": 2})  # None: not given
    assert actor.update_settings({"crop_size": 256})
    assert actor.status("detect") == "done" and actor.status("fit") == "stale"
    assert Actor.open(actor.root).setting("crop_size") == 256  # stored in actor.json
    with pytest.raises(ActorError, match="unknown actor setting"):
        actor.update_settings({"colour": 1})


def test_begin_resumes_the_same_inputs_and_clears_other_results(tmp_path):
    actor, _ = Actor.create(tmp_path / "actor", [photos(tmp_path / "photos")])
    inputs = actor.inputs("detect")
    assert not actor.begin("detect", inputs)
    (actor.folder("detect") / "partial.npz").write_bytes(b"x")
    assert actor.status("detect") == "running"
    assert actor.begin("detect", inputs)  # same inputs: resume, keep what is there
    assert (actor.folder("detect") / "partial.npz").exists()
    assert not actor.begin("detect", "other inputs")  # other inputs: start afresh
    assert list(actor.folder("detect").iterdir()) == []
    # the build keeps its folder: the Blender side remakes only the frames a refit changed
    actor.begin("build", "a")
    (actor.folder("build") / "frames.json").write_text("{}")
    assert not actor.begin("build", "b") and (actor.folder("build") / "frames.json").exists()
    # a trained model is never deleted: it is moved aside
    actor.begin("train", "a")
    (actor.folder("train") / "ema.safetensors").write_bytes(b"weights")
    actor.begin("train", "b")
    aside = [p for p in actor.root.iterdir() if p.name.startswith("model.stale-")]
    assert len(aside) == 1 and (aside[0] / "ema.safetensors").read_bytes() == b"weights"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_storage_errors_are_one_line(code, tmp_path):
    with pytest.raises(ActorError, match=r"cannot write /x/y\.npz: .*the files already written are kept"):
        with storage_errors():
            raise OSError(code, os.strerror(code), "/x/y.npz")
    with pytest.raises(FileNotFoundError):  # other errors are not disguised
        with storage_errors():
            raise FileNotFoundError(errno.ENOENT, "gone", "/x")
