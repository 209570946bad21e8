"""The conditional face model: inputs, shapes, alpha, conditioning and safetensors round trip."""

import json

import numpy as np
import pytest
import torch

from neural_core.face_model import ConditionalModel, load_conditional, read_conditional, save_conditional
from neural_core.face_model.config import ConditionalConfig, EncoderConfig, default_config, tiny_config
from neural_core.face_model.inputs import coefficient_vector, pass_planes, region_one_hot, relative_depth
from neural_core.contract.errors import CheckpointError, NeuralFaceError, ShotFormatError


def _passes(size=32):
    """Canonical passes of a disc-shaped 'head' (the format read_passes returns)."""
    y, x = np.mgrid[:size, :size]
    inside = (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 3) ** 2
    depth = np.where(inside, 0.6 + 0.001 * x, np.inf).astype(np.float32)
    normal = np.zeros((size, size, 3), np.float32)
    normal[inside] = (0, 0, -1)
    regions = np.where(inside, 1.0, -1.0).astype(np.float32)
    regions[inside & (y > size * 0.6)] = 2.0
    return {"depth": depth, "normal": normal, "mask": inside.astype(np.float32), "regions": regions,
            "albedo": np.full((size, size, 3), 0.5, np.float32)}


def test_planes_from_literal_arrays():
    encoder = EncoderConfig(num_regions=3)
    planes = pass_planes(_passes(), encoder)
    assert planes.shape == (encoder.in_planes, 32, 32) == (3 + 1 + 1 + 3, 32, 32)
    assert planes.dtype == np.float32 and np.isfinite(planes).all()
    np.testing.assert_array_equal(region_one_hot(np.array([[-1.0, 1.0, 3.0, 4.0]]), 3)[:, 0],
                                  [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]])
    depth = relative_depth(np.array([[0.5, 0.6, 0.7, np.inf]]), np.array([[True, True, True, False]]), 0.1)
    np.testing.assert_allclose(depth, [[-1.0, 0.0, 1.0, 0.0]], atol=1e-6)
    np.testing.assert_array_equal(coefficient_vector(["b", "a"], [0.25, 0.5], ["a", "b", "c"]), [0.5, 0.25, 0.0])


def test_planes_name_a_missing_pass():
    passes = _passes()
    del passes["normal"]
    with pytest.raises(ShotFormatError, match="frame 7.*normal"):
        pass_planes(passes, EncoderConfig(), frame=7)


def _model(seed=0, **config):
    torch.manual_seed(seed)
    return ConditionalModel(tiny_config(**config)).eval()


def _inputs(model, n=2, seed=1):
    generator = torch.Generator().manual_seed(seed)
    planes = torch.from_numpy(pass_planes(_passes(), model.config.encoder))[None].repeat(n, 1, 1, 1)
    c = torch.rand([n, model.c_dim], generator=generator)
    z = torch.randn([n, model.z_dim], generator=generator)
    return planes, c, z


def test_rgba_shape_range_and_alpha_is_the_mask():
    model = _model()
    planes, c, z = _inputs(model)
    rgba = model.rgba(planes, c, z)
    assert rgba.shape == (2, 4, 32, 32)
    assert rgba.min() >= 0 and rgba.max() <= 1
    torch.testing.assert_close(rgba[:, 3], torch.from_numpy(_passes()["mask"]).expand(2, -1, -1))


def test_passes_coefficients_and_appearance_all_change_the_image():
    model = _model()
    planes, c, z = _inputs(model)
    with torch.no_grad():
        base = model(planes, c, z)
        assert not torch.allclose(base, model(planes, 1 - c, z))
        assert not torch.allclose(base, model(planes, c, -z))
        assert not torch.allclose(base, model(torch.roll(planes, 5, dims=-1), c, z))
        assert torch.equal(base, model(planes, c, z))  # deterministic: no noise by default


def test_planes_at_another_resolution_are_resized():
    model = _model()
    planes = torch.from_numpy(pass_planes(_passes(64), model.config.encoder))[None]
    out = model.rgba(planes, torch.zeros(1, model.c_dim), torch.zeros(1, model.z_dim))
    assert out.shape == (1, 4, 32, 32)


def test_bad_shapes_are_refused():
    model = _model()
    planes, c, z = _inputs(model)
    with pytest.raises(ValueError, match="coefficients"):
        model(planes, c[:, :1], z)
    with pytest.raises(ValueError, match="planes"):
        model(planes[:, :2], c, z)


def test_config_checks_and_json_round_trip():
    config = tiny_config()
    assert ConditionalConfig.from_dict(json.loads(config.to_json())) == config
    with pytest.raises(NeuralFaceError, match="c_dim"):
        ConditionalConfig(generator=config.generator, coefficient_names=("a",))
    with pytest.raises(NeuralFaceError, match="cannot read"):
        EncoderConfig(passes=("normal", "uv"))
    assert default_config(["a"] * 80).generator.channels[256] == 16


@pytest.mark.parametrize("dtype, tolerance", [("float32", 0.0), ("float16", 2e-2)])
def test_save_load_round_trip(tmp_path, dtype, tolerance):
    model = _model(seed=3)
    path = tmp_path / "model.safetensors"
    save_conditional(model, path, info={"steps": 12}, dtype=dtype)
    loaded = load_conditional(path)
    assert loaded.config == model.config and loaded.info == {"steps": 12}
    planes, c, z = _inputs(model)
    with torch.no_grad():
        torch.testing.assert_close(loaded(planes, c, z), model(planes, c, z), atol=tolerance, rtol=tolerance)
    assert not list(tmp_path.glob("*.tmp-*"))


def test_load_refuses_other_files(tmp_path):
    from neural_core.generator import Generator
    from neural_core.generator.checkpoints import save_generator

    plain = tmp_path / "generator.safetensors"
    save_generator(Generator(tiny_config().generator), plain)
    with pytest.raises(CheckpointError, match="not a conditional face model"):
        read_conditional(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        load_conditional(junk)
