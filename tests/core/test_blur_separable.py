"""The separable blur the fused path uses under autograd agrees with the depthwise blur and
with the reference implementation (values and gradients)."""

import torch

from neural_core.face_model import ConditionalModel
from neural_core.face_model.config import tiny_config
from neural_core.generator.modulated import blur_separable


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


def test_training_path_agrees_with_the_reference_and_with_inference_in_values_and_gradients():
    torch.manual_seed(1)
    fast = ConditionalModel(tiny_config(resolution=32))
    reference = ConditionalModel(tiny_config(resolution=32), impl="reference")
    reference.load_state_dict(fast.state_dict())
    inputs = (torch.randn(2, fast.config.encoder.in_planes, 32, 32), torch.rand(2, fast.c_dim), torch.randn(2, fast.z_dim))
    out_fast, grads_fast = _run(fast, inputs)  # autograd on: separable blur
    out_reference, grads_reference = _run(reference, inputs)
    with torch.no_grad():
        out_inference = fast(*inputs)  # autograd off: depthwise blur
    torch.testing.assert_close(out_fast, out_reference, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out_inference, out_fast, atol=1e-5, rtol=1e-4)
    assert grads_fast.keys() == grads_reference.keys() and len(grads_fast) > 10
    for name in grads_fast:
        torch.testing.assert_close(grads_fast[name], grads_reference[name], atol=1e-4, rtol=1e-3, msg=name)
