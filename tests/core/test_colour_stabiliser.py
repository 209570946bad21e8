"""The render's colour stabiliser: the skin's chromaticity held to the shot's reference, the
same reference in every chunk, a clear error without the regions pass."""

import numpy as np
import pytest

from neural_core.contract.errors import ShotFormatError
from neural_core.worker import colour_stabiliser as cs
from neural_core.worker.images import srgb_to_linear
from tests.core.synthetic_shot import make_shot, save_tiny_model, write_shot_folder

torch = pytest.importorskip("torch")


def frame_with_cast(cast, size=32):
    """RGBA [size, size, 4]: a skin square (regions 1) of one colour times ``cast`` (linear),
    a non-skin border (regions 2); alpha 1."""
    rgba = np.zeros((size, size, 4), dtype=np.float32)
    rgba[..., 3] = 1.0
    skin_linear = np.array([0.30, 0.18, 0.12]) * np.asarray(cast)
    rgba[..., :3] = cs.linear_to_srgb(skin_linear)
    regions = np.full((size, size), 2.0, dtype=np.float32)
    regions[6:-6, 6:-6] = cs.SKIN
    return rgba, regions


def luminance(rgba, regions):
    skin = cs.skin_pixels(regions, rgba[..., 3])
    return float(srgb_to_linear(rgba[..., :3][skin]).mean(0) @ cs.LUMINANCE)


def test_a_cast_frame_takes_the_reference_chromaticity_and_keeps_its_luminance():
    reference_frame, regions = frame_with_cast([1.0, 1.0, 1.0])
    reference = cs.skin_chromaticity(reference_frame, regions)
    cast, _ = frame_with_cast([1.1, 0.95, 0.9])
    assert not np.allclose(cs.skin_chromaticity(cast, regions), reference, atol=1e-2)
    fixed = cs.stabilise(cast, regions, reference)
    np.testing.assert_allclose(cs.skin_chromaticity(fixed, regions), reference, atol=2e-3)
    assert luminance(fixed, regions) == pytest.approx(luminance(cast, regions), rel=2e-3)
    np.testing.assert_array_equal(fixed[..., 3], cast[..., 3])


def test_gains_are_clipped_and_a_frame_without_skin_is_left_alone():
    reference_frame, regions = frame_with_cast([1.0, 1.0, 1.0])
    reference = cs.skin_chromaticity(reference_frame, regions)
    far, _ = frame_with_cast([2.0, 1.0, 1.0])
    fixed = cs.stabilise(far, regions, reference)
    red_gain = srgb_to_linear(fixed[16, 16, :1])[0] / srgb_to_linear(far[16, 16, :1])[0]
    assert red_gain == pytest.approx(1.0 / cs.MAX_GAIN, rel=1e-3)
    no_skin = np.full_like(regions, 2.0)
    assert cs.stabilise(far, no_skin, reference) is far
    assert cs.skin_chromaticity(far, no_skin) is None
    assert cs.reference_chromaticity([None, None]) is None


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def render_in_process(shot_folder, out, model, **options):
    """{frame: RGBA float32} as the worker synthesises them (before the 8-bit file)."""
    from neural_core.worker.pipeline import RenderOptions, ShotRenderer

    renderer = ShotRenderer(RenderOptions(shot=str(shot_folder), out=str(out), model=str(model), device="cpu", **options))
    return renderer, {frame: renderer.synthesise(renderer.prepare(frame)) for frame in renderer.frames}


def test_the_render_holds_the_skin_colour_and_every_chunk_gets_the_same_reference(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setattr(cs, "MAX_GAIN", 8.0)  # the untrained tiny model's colours vary far more than a real one's
    shot = make_shot(n_frames=6, size=(64, 48), coefficient_values=[[v, 1.0 - v, 0.5] for v in np.linspace(0.0, 1.0, 6)])
    write_shot_folder(tmp_path / "shot", shot=shot)
    _, plain = render_in_process(tmp_path / "shot", tmp_path / "plain", tiny_model)
    renderer, held = render_in_process(tmp_path / "shot", tmp_path / "held", tiny_model, stabilise_colour=True)
    regions = {f: renderer.prepare(f).passes["regions"] for f in renderer.frames}
    reference = renderer.colour_reference()[0]
    spread = {name: np.ptp([cs.skin_chromaticity(rgba, regions[f]) for f, rgba in frames.items()], axis=0).max()
              for name, frames in (("plain", plain), ("held", held))}
    assert spread["held"] < 0.2 * spread["plain"]
    for frame, rgba in held.items():
        # not exact: a pixel pushed past 1.0 by its gain is clipped
        np.testing.assert_allclose(cs.skin_chromaticity(rgba, regions[frame]), reference, atol=2e-2)
    chunk, part = render_in_process(tmp_path / "shot", tmp_path / "chunk", tiny_model, stabilise_colour=True, frames="3-4")
    np.testing.assert_array_equal(chunk.colour_reference()[0], reference)
    for frame, rgba in part.items():
        np.testing.assert_array_equal(rgba, held[frame])
    assert renderer.fingerprint != render_in_process(tmp_path / "shot", tmp_path / "x", tiny_model)[0].fingerprint
    assert "stabilise_colour" not in render_in_process(tmp_path / "shot", tmp_path / "y", tiny_model)[0].fingerprint
    assert "stabilise_brightness" not in renderer.fingerprint


def test_the_brightness_mode_also_holds_the_skins_mean_luminance(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setattr(cs, "MAX_GAIN", 8.0)
    shot = make_shot(n_frames=6, size=(64, 48), coefficient_values=[[v, 1.0 - v, 0.5] for v in np.linspace(0.0, 1.0, 6)])
    write_shot_folder(tmp_path / "shot", shot=shot)
    renderer, held = render_in_process(tmp_path / "shot", tmp_path / "held", tiny_model, stabilise_brightness=True)
    chromaticity, luminance = renderer.colour_reference()
    regions = {f: renderer.prepare(f).passes["regions"] for f in renderer.frames}
    brightness = [float(cs.skin_colour(rgba, regions[f]) @ cs.LUMINANCE) for f, rgba in held.items()]
    np.testing.assert_allclose(brightness, luminance, rtol=5e-2)  # not exact: a pixel pushed past 1.0 is clipped
    for frame, rgba in held.items():
        np.testing.assert_allclose(cs.skin_chromaticity(rgba, regions[frame]), chromaticity, atol=2e-2)
    plain = render_in_process(tmp_path / "shot", tmp_path / "plain", tiny_model, stabilise_colour=True)[1]
    spread = np.ptp([float(cs.skin_colour(rgba, regions[f]) @ cs.LUMINANCE) for f, rgba in plain.items()])
    assert np.ptp(brightness) < 0.2 * spread  # the colour mode keeps each frame's own brightness
    assert renderer.fingerprint["stabilise_brightness"] is True


def test_the_brightness_option_implies_the_stabiliser():
    import argparse

    from neural_core.commands import render

    parser = argparse.ArgumentParser()
    render.add_arguments(parser)
    options = render.render_options(parser.parse_args(["SHOT", "--stabilise-brightness"]))
    assert options.stabilise_colour and options.stabilise_brightness
    from neural_core.worker.pipeline import RenderOptions

    assert RenderOptions(shot="SHOT", out="OUT", stabilise_brightness=True).stabilise_colour  # any caller, not only the CLI


def test_later_chunks_take_the_reference_the_first_left_in_the_output_folder(tmp_path, tiny_model, monkeypatch):
    """Another chunk of the same render synthesises only its own frames and uses the very
    numbers the first chunk computed; other options or a damaged record mean a new reference."""
    import json

    from neural_core.worker.model import FaceModel

    shot = make_shot(n_frames=8, size=(32, 24), coefficient_values=[[v, 1.0 - v, 0.5] for v in np.linspace(0.0, 1.0, 8)])
    write_shot_folder(tmp_path / "shot", shot=shot)
    rendered = []
    original = FaceModel.render
    monkeypatch.setattr(FaceModel, "render", lambda self, passes, values, frame=None: (
        rendered.append(frame), original(self, passes, values, frame=frame))[1])
    first, frames = render_in_process(tmp_path / "shot", tmp_path / "out", tiny_model, stabilise_colour=True, frames="1-4")
    assert rendered == [1, 1, 3, 5, 6, 8, 2, 3, 4]  # frame 1, the reference's 1, 3, 5, 6, 8, then frames 2-4
    records = list((tmp_path / "out").glob(".colour-reference-*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["chromaticity"] == first.colour_reference()[0].tolist()

    rendered.clear()
    second, more = render_in_process(tmp_path / "shot", tmp_path / "out", tiny_model, stabilise_colour=True, frames="5-8")
    assert rendered == [5, 6, 7, 8]
    np.testing.assert_array_equal(second.colour_reference()[0], first.colour_reference()[0])
    _, whole = render_in_process(tmp_path / "shot", tmp_path / "whole", tiny_model, stabilise_colour=True)
    for frame, rgba in {**frames, **more}.items():
        np.testing.assert_array_equal(rgba, whole[frame])

    record = json.loads(records[0].read_text())  # another machine's few-ulp different numbers: used as they are
    record["chromaticity"] = [v * (1 + 1e-6) for v in record["chromaticity"]]
    records[0].write_text(json.dumps(record))
    third, _ = render_in_process(tmp_path / "shot", tmp_path / "out", tiny_model, stabilise_colour=True, frames="7")
    assert third.colour_reference()[0].tolist() == record["chromaticity"]

    records[0].write_text("{damaged")
    rendered.clear()
    fourth, _ = render_in_process(tmp_path / "shot", tmp_path / "out", tiny_model, stabilise_colour=True, frames="7")
    assert rendered == [7, 1, 3, 5, 6, 8]  # recomputed (the sample frames of the whole shot) and written again
    np.testing.assert_array_equal(fourth.colour_reference()[0], first.colour_reference()[0])
    assert json.loads(records[0].read_text())["chromaticity"] == first.colour_reference()[0].tolist()
    render_in_process(tmp_path / "shot", tmp_path / "out", tiny_model, stabilise_colour=True, frames="7", appearance=1)
    assert len(list((tmp_path / "out").glob(".colour-reference-*.json"))) == 2  # another look: its own reference


def test_a_missing_reference_frame_says_why_it_is_needed(tmp_path, tiny_model):
    from neural_core.contract import shot as fmt

    write_shot_folder(tmp_path / "shot", shot=make_shot(n_frames=6, size=(32, 24)))
    fmt.pass_path(tmp_path / "shot", 6).unlink()  # a reference frame, not one of the frames rendered
    with pytest.raises(ShotFormatError, match=r"0006\.exr, frame 6.*file not found.*reference from frames 1, 2, 3, 5, 6.*"
                                                r"prepare step exports them"):
        render_in_process(tmp_path / "shot", tmp_path / "out", tiny_model, stabilise_colour=True, frames="2")


def test_a_shot_without_the_regions_pass_is_a_clear_error(tmp_path, tiny_model):
    from neural_core.worker.pipeline import RenderOptions, ShotRenderer

    shot = make_shot(n_frames=2, size=(32, 24))
    del shot.passes["regions"]
    write_shot_folder(tmp_path / "shot", shot=shot)
    with pytest.raises(ShotFormatError, match="regions pass"):
        ShotRenderer(RenderOptions(shot=str(tmp_path / "shot"), out=str(tmp_path / "out"), model=str(tiny_model),
                                   device="cpu", stabilise_colour=True))


@pytest.mark.parametrize("command", [["render", "SHOT"], ["farm", "ray", "SHOT", "--address", "auto"]])
def test_render_and_farm_command_lines_take_the_option(command):
    """Both commands that render build their options with one function (render_options)."""
    import argparse

    from neural_core.commands import farm, render

    parser = argparse.ArgumentParser()
    (render if command[0] == "render" else farm).add_arguments(parser)
    for extra, expected in (([], False), (["--stabilise-colour"], True)):
        assert render.render_options(parser.parse_args(command[1:] + extra)).stabilise_colour is expected
