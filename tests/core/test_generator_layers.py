"""Building blocks: FIR resampling, modulated convolution, fast vs reference paths."""

import pytest

torch = pytest.importorskip("torch")  # the Blender 5.0.1 venv has no torch: skip, do not error

import math

import torch.nn.functional as F

from neural_core.generator.layers import EqualizedLinear, blur, depthwise_filter, make_filter_2d, upfirdn2d_reference, upsample_2x
from neural_core.generator.modulated import modulate_weights, modulated_conv_fused, modulated_conv_reference


TAPS = (1, 3, 3, 1)


def test_filter_2d_literal():
    f = make_filter_2d(TAPS)
    assert f.shape == (4, 4)
    assert torch.allclose(f[0], torch.tensor([1.0, 3, 3, 1]) / 64)
    assert float(f.sum()) == pytest.approx(1.0)


def test_upfirdn_reference_on_literal_input():
    """One impulse upsampled 2x: the output is the filter x 4 placed at the impulse."""
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 1.0
    f = make_filter_2d(TAPS)
    y = upfirdn2d_reference(x, f, up=2, pad=(2, 1), gain=4)
    assert y.shape == (1, 1, 6, 6)
    assert torch.allclose(y.sum(), torch.tensor(4.0))
    assert torch.allclose(y[0, 0, 1:5, 1:5], f * 4)  # impulse at 2 -> window rows 1..4


def test_upsample_2x_matches_reference():
    x = torch.randn(2, 5, 7, 7)
    f = make_filter_2d(TAPS)
    fast = upsample_2x(x, depthwise_filter(f, 5, 4, torch.float32, "cpu"))
    ref = upfirdn2d_reference(x, f, up=2, pad=(2, 1), gain=4)
    assert fast.shape == ref.shape == (2, 5, 14, 14)
    assert torch.allclose(fast, ref, atol=1e-6)


def test_blur_with_bias_matches_reference_plus_bias():
    x = torch.randn(1, 4, 9, 9)
    f = make_filter_2d(TAPS)
    bias = torch.randn(4)
    fast = blur(x, depthwise_filter(f, 4, 4, torch.float32, "cpu"), padding=1, bias=bias)
    ref = upfirdn2d_reference(x, f, pad=(1, 1), gain=4) + bias.reshape(1, -1, 1, 1)
    assert torch.allclose(fast, ref, atol=1e-6)


def test_equalized_linear_scaling():
    layer = EqualizedLinear(4, 3, bias_init=1, lr_multiplier=0.5, activation="lrelu")
    x = torch.randn(2, 4)
    expected = F.leaky_relu(x @ (layer.weight * 0.5 / 2).t() + layer.bias * 0.5, 0.2) * math.sqrt(2)
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_demodulation_gives_unit_norm_per_output():
    w = modulate_weights(torch.randn(6, 4, 3, 3), torch.randn(2, 4), demodulate=True)
    assert w.shape == (2, 6, 4, 3, 3)
    assert torch.allclose(w.square().sum(dim=[2, 3, 4]), torch.ones(2, 6), atol=1e-5)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("up, demodulate", [(1, True), (2, True), (1, False)])  # 3x3 conv, 3x3 up, ToRGB
def test_fused_modulated_conv_matches_reference(batch, up, demodulate):
    torch.manual_seed(batch + 10 * up)
    k = 3 if demodulate else 1
    x, weight, styles = torch.randn(batch, 4, 6, 6), torch.randn(5, 4, k, k), torch.randn(batch, 4)
    f = make_filter_2d(TAPS)
    bias = torch.randn(5)
    ref = modulated_conv_reference(x, weight, styles, demodulate, up, f) + bias.reshape(1, -1, 1, 1)
    fast = modulated_conv_fused(x, weight, styles, demodulate, up, depthwise_filter(f, 5, 4, torch.float32, "cpu"), bias)
    assert fast.shape == ref.shape == (batch, 5, 6 * up, 6 * up)
    assert torch.allclose(fast, ref, atol=1e-5)
    # a gain on the input activations folds into the weights
    gained = modulated_conv_fused(
        x, weight, styles, demodulate, up, depthwise_filter(f, 5, 4, torch.float32, "cpu"), None, gain=math.sqrt(2)
    )
    ref_gained = modulated_conv_reference(x * math.sqrt(2), weight, styles, demodulate, up, f)
    assert torch.allclose(gained, ref_gained, atol=1e-5)
