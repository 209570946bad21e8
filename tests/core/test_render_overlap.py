"""The overlapped render loop: frames reported in order, each only once its file is complete,
and an error or cancel mid-shot still completes the frame already synthesised."""

import os

import numpy as np
import pytest
from PIL import Image

from neural_core.contract.protocol import Job, Reporter
from neural_core.worker.pipeline import RenderOptions, ShotRenderer, render_frames
from tests.core.synthetic_shot import save_tiny_model, write_shot_folder

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


class Recorder(Reporter):
    """Keeps the events; at every ``frame`` event notes whether its file is on disk."""

    def __init__(self):
        self.events = []

    def emit(self, event, **fields):
        if event == "frame":
            fields["on_disk"] = fields["path"] is not None and os.path.isfile(fields["path"])
        self.events.append({"event": event, **fields})

    def close(self):
        pass

    def frames(self):
        return [(e["frame"], e["skipped"], e["on_disk"]) for e in self.events if e["event"] == "frame"]


def _run(tmp_path, tiny_model, cancel_during=None, overlap=True, **options):
    """Render the shot in-process; ``cancel_during``: frame during whose synthesis a cancel arrives."""
    renderer = ShotRenderer(RenderOptions(shot=str(tmp_path / "shot"), out=str(tmp_path / "out"), model=str(tiny_model),
                                          device="cpu", **options))
    recorder = Recorder()
    job = Job("render", recorder)
    synthesise = renderer.synthesise

    def synthesise_then_maybe_cancel(work):
        if work.frame == cancel_during:
            job.token.cancel("test")
        return synthesise(work)

    renderer.synthesise = synthesise_then_maybe_cancel
    with job:
        job.start(len(renderer.frames), renderer.frames)
        render_frames(job, renderer, overlap=overlap)
    return job, recorder


@pytest.mark.parametrize("overlap", [True, False])
def test_frames_are_reported_in_order_once_written_and_equal_the_one_by_one_render(tmp_path, tiny_model, overlap):
    write_shot_folder(tmp_path / "shot", n_frames=5)
    job, recorder = _run(tmp_path, tiny_model, overlap=overlap)
    assert job.exit_code == 0
    assert recorder.frames() == [(f, False, True) for f in range(1, 6)]
    renderer = ShotRenderer(RenderOptions(shot=str(tmp_path / "shot"), out=str(tmp_path / "single"), model=str(tiny_model),
                                          device="cpu"))
    for frame in range(1, 6):
        path = renderer.render_frame(frame)
        assert path.read_bytes() == (tmp_path / "out" / path.name).read_bytes()
    job, recorder = _run(tmp_path, tiny_model, overlap=overlap)  # rerun: every frame current
    assert recorder.frames() == [(f, True, True) for f in range(1, 6)]


@pytest.mark.parametrize("overlap", [True, False])
def test_a_bad_frame_stops_the_shot_after_the_frames_before_it_are_written(tmp_path, tiny_model, overlap):
    write_shot_folder(tmp_path / "shot", n_frames=5)
    damaged = tmp_path / "shot" / "passes" / "0004.exr"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # header intact, pixels cut off
    job, recorder = _run(tmp_path, tiny_model, overlap=overlap)
    assert job.exit_code == 2
    assert recorder.frames() == [(1, False, True), (2, False, True), (3, False, True)]
    error = next(e for e in recorder.events if e["event"] == "error")
    assert error["frame"] == 4 and "0004.exr" in error["message"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "neural.chunks", "neural_0001.png", "neural_0002.png", "neural_0003.png"]


@pytest.mark.parametrize("overlap", [True, False])
def test_a_cancel_during_synthesis_completes_and_reports_that_frame(tmp_path, tiny_model, overlap):
    write_shot_folder(tmp_path / "shot", n_frames=5)
    job, recorder = _run(tmp_path, tiny_model, cancel_during=2, overlap=overlap)
    assert job.exit_code == 3
    assert recorder.frames() == [(1, False, True), (2, False, True)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["neural.chunks", "neural_0001.png", "neural_0002.png"]
    assert np.asarray(Image.open(tmp_path / "out" / "neural_0002.png")).shape[-1] == 4


def test_the_io_thread_is_used_only_when_the_model_leaves_cpu_to_spare(tiny_model, monkeypatch):
    from neural_core.worker.model import FaceModel
    from neural_core.worker.pipeline import io_thread_helps

    model = FaceModel(tiny_model, device="cpu")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert not io_thread_helps(model)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert io_thread_helps(model)
