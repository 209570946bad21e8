"""The network on tiny configs: paths agree, determinism, features hook, devices, options."""

import pytest

torch = pytest.importorskip("torch")  # the Blender 5.0.1 venv has no torch: skip, do not error

import subprocess
import sys

from neural_core.contract.errors import NeuralFaceError
from neural_core.generator import Generator, GeneratorConfig
from neural_core.generator.device import resolve_device, resolve_precision
from neural_core.generator.modulated import modulated_conv_reference


def tiny_config(**overrides):
    values = dict(resolution=16, z_dim=8, w_dim=8, mapping_layers=2, channels={4: 6, 8: 5, 16: 4})
    values.update(overrides)
    return GeneratorConfig(**values)


def tiny_generator(seed=0, **overrides):
    torch.manual_seed(seed)
    G = Generator(tiny_config(**overrides)).eval()
    with torch.no_grad():  # make every term matter (the init leaves biases and noise at 0)
        for name, p in G.named_parameters():
            if name.endswith(("bias", "noise_strength")):
                p.add_(0.2 * torch.randn_like(p))
        G.mapping.w_avg.normal_()
    return G


def test_config_round_trips_through_json():
    config = tiny_config(c_dim=3, conv_clamp=256)
    again = GeneratorConfig.from_dict(__import__("json").loads(config.to_json()))
    assert again == config
    assert config.num_ws == 6 and config.block_resolutions == [4, 8, 16]
    assert GeneratorConfig.config_f(1024).channels[64] == 512 and GeneratorConfig.config_f(1024).channels[128] == 256


def test_bad_config_is_a_user_error():
    with pytest.raises(NeuralFaceError, match="power of two"):
        GeneratorConfig(resolution=48)
    with pytest.raises(NeuralFaceError, match="unknown generator config"):
        GeneratorConfig.from_dict({"resolution": 16, "colour": 1})


@pytest.mark.parametrize("channels_last_from", [None, 8])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("noise_mode", ["const", "none", "random"])
@pytest.mark.parametrize("overrides", [{}, {"c_dim": 3, "conv_clamp": 0.5}])
def test_fast_path_matches_reference_path(batch, noise_mode, overrides, channels_last_from):
    G = tiny_generator(**overrides)
    G.synthesis.set_channels_last_from(channels_last_from)
    z = torch.randn(batch, 8)
    c = torch.randn(batch, 3) if overrides else None
    features = {8: torch.randn(batch, 5, 8, 8)}
    with torch.no_grad():
        outs = [
            G(
                z,
                c,
                noise_mode=noise_mode,
                truncation_psi=0.8,
                features=features,
                impl=impl,
                noise_generator=torch.Generator().manual_seed(5),
            )
            for impl in ("fast", "reference")
        ]
    assert outs[0].shape == (batch, 3, 16, 16) and outs[0].dtype == torch.float32 and outs[0].is_contiguous()
    assert torch.allclose(outs[0], outs[1], atol=1e-5, rtol=1e-5)


def test_same_inputs_and_seed_are_bit_identical():
    G = tiny_generator()
    z = torch.randn(2, 8)
    with torch.no_grad():
        a = G(z, noise_mode="random", noise_generator=torch.Generator().manual_seed(1))
        b = G(z, noise_mode="random", noise_generator=torch.Generator().manual_seed(1))
        other = G(z, noise_mode="random", noise_generator=torch.Generator().manual_seed(2))
        assert torch.equal(G(z), G(z))
    assert torch.equal(a, b)
    assert not torch.equal(a, other)


def test_noise_modes_differ():
    G = tiny_generator()
    z = torch.randn(1, 8)
    with torch.no_grad():
        assert not torch.allclose(G(z, noise_mode="const"), G(z, noise_mode="none"))


def test_ws_input_equals_mapping_path_and_single_w_broadcasts():
    G = tiny_generator()
    z = torch.randn(2, 8)
    with torch.no_grad():
        ws = G.mapping(z)
        assert torch.equal(G(z), G(ws=ws))
        assert torch.equal(G(ws=ws[:, 0]), G(ws=ws))
        psi0 = G(torch.randn(2, 8), truncation_psi=0.0)
    assert torch.allclose(psi0[0], psi0[1], atol=1e-6)  # psi 0: every z gives the w_avg image


def test_conditional_generator_needs_c():
    G = tiny_generator(c_dim=3)
    with pytest.raises(ValueError, match="conditional"):
        G(torch.randn(1, 8))
    with torch.no_grad():
        a, b = G(torch.zeros(1, 8) + 1, torch.tensor([[1.0, 0, 0]])), G(torch.zeros(1, 8) + 1, torch.tensor([[0.0, 1, 0]]))
    assert not torch.allclose(a, b)


def test_features_hook_adds_before_the_last_torgb():
    """At the last resolution the image changes by exactly ToRGB's (linear) conv of the feature."""
    G = tiny_generator()
    z = torch.randn(2, 8)
    feature = torch.randn(2, 4, 16, 16)
    with torch.no_grad():
        ws = G.mapping(z)
        base = G(ws=ws)
        assert torch.equal(G(ws=ws, features={16: torch.zeros_like(feature)}), base)
        changed = G(ws=ws, features={16: feature}, impl="reference")
        torgb = G.synthesis.b16.torgb
        styles = torgb.affine(ws[:, -1]) * torgb.weight_gain
        expected = modulated_conv_reference(feature, torgb.weight, styles, demodulate=False)
        assert torch.allclose(changed - G(ws=ws, impl="reference"), expected, atol=1e-5)
        assert not torch.allclose(G(ws=ws, features={8: torch.randn(2, 5, 8, 8)}), base)


@pytest.mark.parametrize(
    "features, message", [({8: torch.zeros(2, 4, 8, 8)}, "features\\[8\\]"), ({32: torch.zeros(2, 4, 32, 32)}, "resolutions \\[32\\]")]
)
def test_features_hook_rejects_wrong_shapes(features, message):
    G = tiny_generator()
    with pytest.raises(ValueError, match=message):
        G(torch.randn(2, 8), features=features)


def test_bad_ws_shape_names_expected_shape():
    G = tiny_generator()
    with pytest.raises(ValueError, match=r"\[N, 6, 8\]"):
        G(ws=torch.zeros(1, 5, 8))


def test_device_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    device, note = resolve_device("auto")
    assert device.type == "cpu" and "CPU" in note
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    device, note = resolve_device("auto")
    assert device.type == "mps" and "MPS" in note
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Fake GPU")
    device, note = resolve_device("auto")
    assert device.type == "cuda" and "Fake GPU" in note


def test_unavailable_or_unknown_device_is_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(NeuralFaceError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(NeuralFaceError, match="unknown device"):
        resolve_device("toaster")


def test_cuda_only_precision_warns_and_falls_back_on_cpu():
    with pytest.warns(RuntimeWarning, match="CUDA-only"):
        assert resolve_precision("float16", torch.device("cpu")) == torch.float32
    assert resolve_precision("float16", torch.device("cuda")) == torch.float16
    with pytest.raises(NeuralFaceError):
        resolve_precision("float8", torch.device("cpu"))


def test_importing_neural_core_does_not_import_torch():
    code = "import sys, neural_core, neural_core.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("channels_last_from", [None, 8])
def test_fast_path_trains_with_clamp_and_features(channels_last_from):
    """In-place ops stay out of autograd's way; gradients match the reference path."""
    grads = []
    for impl in ("fast", "reference"):
        G = tiny_generator(c_dim=3, conv_clamp=0.5).train().requires_grad_(True)
        G.synthesis.set_channels_last_from(channels_last_from)
        torch.manual_seed(3)
        out = G(torch.randn(2, 8), torch.randn(2, 3), features={8: torch.randn(2, 5, 8, 8)}, impl=impl)
        out.square().mean().backward()
        grads.append(G.synthesis.b8.conv0.weight.grad.clone())
    assert grads[0].abs().sum() > 0
    assert torch.allclose(grads[0], grads[1], atol=1e-5, rtol=1e-4)
