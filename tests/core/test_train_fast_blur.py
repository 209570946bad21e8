"""The training-time separable blur agrees with the generator's fused path (values and gradients)."""

import torch

from neural_core.conditional import ConditionalModel
from neural_core.conditional.config import tiny_config
from neural_core.generator import synthesis
from neural_core.train.fast_blur import blur_separable, separable_blur


def test_blur_matches_a_depthwise_convolution():
    torch.manual_seed(0)
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
    y = torch.randn(2, 3, 9, 9)
    bias = torch.randn(3)
    weight = (4 * torch.outer(taps, taps)).expand(3, 1, 4, 4)
    expected = torch.nn.functional.conv2d(y, weight, bias=bias, padding=1, groups=3)
    torch.testing.assert_close(blur_separable(y, taps, bias), expected, atol=1e-5, rtol=1e-5)


def _run(model, inputs):
    model.zero_grad()
    out = model(*inputs)
    (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_model_output_and_gradients_agree_and_the_patch_is_undone():
    torch.manual_seed(1)
    model = ConditionalModel(tiny_config(resolution=32))
    inputs = (torch.randn(2, model.config.encoder.in_planes, 32, 32), torch.rand(2, model.c_dim), torch.randn(2, model.z_dim))
    original = synthesis.modulated_conv_fused
    out_a, grads_a = _run(model, inputs)
    with separable_blur():
        assert synthesis.modulated_conv_fused is not original
        out_b, grads_b = _run(model, inputs)
    assert synthesis.modulated_conv_fused is original
    torch.testing.assert_close(out_b, out_a, atol=1e-5, rtol=1e-4)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 10
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], atol=1e-4, rtol=1e-3, msg=name)
