"""The resume records (neural_core/worker/manifest.py): what a frame's hash covers (issue
13.4: the pixels the model reads, never EXR headers) and how the chunk manifests of one
output folder merge (issue 15.1)."""

import json
import os

import pytest

from neural_core.contract.protocol import Reporter
from neural_core.contract.shot import pass_path
from neural_core.worker.manifest import Manifest, file_identity
from neural_core.worker.pipeline import RenderOptions, render_shot
from tests.core.synthetic_shot import pass_channels, save_tiny_model, write_shot_folder

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


class Frames(Reporter):
    def __init__(self):
        self.frames, self.errors = [], []

    def emit(self, event, **fields):
        if event == "frame":
            self.frames.append((fields["frame"], fields["skipped"]))
        elif event == "error":
            self.errors.append(fields["message"])


def render(shot, out, model):
    reporter = Frames()
    code = render_shot(RenderOptions(shot=str(shot), out=str(out), model=str(model), device="cpu"), reporter)
    assert code == 0, reporter.errors
    return [frame for frame, skipped in reporter.frames if not skipped]


def rewrite_pass(folder, shot, frame, index, compression="PIZ", change=None, **attributes):
    """Write a frame's pass EXR again as a new export would: other compression and header
    attributes (Blender stamps the render time), same pixels unless ``change`` edits them."""
    import OpenEXR

    channels = pass_channels(shot, index % 2)
    if change is not None:
        change(channels)
    header = {"compression": getattr(OpenEXR, f"{compression}_COMPRESSION"), "type": OpenEXR.scanlineimage, **attributes}
    OpenEXR.File(header, {k: v.astype("float32") for k, v in channels.items()}).write(str(pass_path(folder, frame)))


def test_a_reexport_with_new_headers_skips_every_frame_and_a_changed_pixel_renders_its_frame(tmp_path, tiny_model):
    folder = tmp_path / "shot"
    shot = write_shot_folder(folder, n_frames=4)
    assert render(folder, tmp_path / "out", tiny_model) == [1, 2, 3, 4]
    before = {f: pass_path(folder, f).read_bytes() for f in range(1, 5)}
    for index, frame in enumerate(range(1, 5)):
        rewrite_pass(folder, shot, frame, index, RenderTime="00:01.%02d" % frame, Note=f"export {os.getpid()}")
    assert all(pass_path(folder, f).read_bytes() != before[f] for f in range(1, 5))  # other files...
    assert render(folder, tmp_path / "out", tiny_model) == []  # ...the same pixels: nothing to do

    def unused_channel(channels):  # the model never reads the Combined pass
        channels["ViewLayer.Combined.R"] = channels["ViewLayer.Combined.R"] + 1.0

    rewrite_pass(folder, shot, 2, 1, change=unused_channel)
    assert render(folder, tmp_path / "out", tiny_model) == []

    def one_normal(channels):
        channels["ViewLayer.Normal.X"][8, 12] += 0.25

    rewrite_pass(folder, shot, 3, 2, change=one_normal)
    assert render(folder, tmp_path / "out", tiny_model) == [3]


def _write(path, text):
    path.write_text(text)
    return path


def test_chunk_manifests_merge_and_only_the_record_of_the_file_on_disk_counts(tmp_path):
    chunks = tmp_path / "neural.chunks"
    frame = _write(tmp_path / "neural_0005.png", "made by chunk a")
    first = Manifest(chunks, "0001-0008", {"spans": [[1, 8]]})
    first.record(5, frame, "hash-a")
    assert Manifest(chunks, "0005-0012").is_current(5, frame, "hash-a")  # another chunk sees it

    os.remove(frame)
    frame = _write(tmp_path / "neural_0005.png", "made by chunk b, later")
    second = Manifest(chunks, "0005-0012", {"spans": [[5, 12]]})
    second.record(5, frame, "hash-b")
    reader = Manifest(chunks, "0001-0048")
    assert reader.is_current(5, frame, "hash-b")
    assert not reader.is_current(5, frame, "hash-a")  # chunk a's record is of a file no longer there
    assert not reader.is_current(5, tmp_path / "neural_0006.png", "hash-b")
    assert not reader.is_current(6, frame, "hash-b")

    records = json.loads((chunks / "0005-0012.json").read_text())
    assert records["chunk"] == "0005-0012" and records["spans"] == [[5, 12]] and records["pid"] == os.getpid()
    assert records["records"]["5"] == {"file": "neural_0005.png", "hash": "hash-b", "stat": file_identity(frame)}
    (chunks / "0001-0008.json").write_text('{"version": 2, "records": {"5": ')  # torn: ignored, never fatal
    assert Manifest(chunks, "0001-0048").is_current(5, frame, "hash-b")
