"""A training-time replacement for the generator's upsampling blur whose backward is fast on CPU.

The generator's fused path (``generator/modulated.py: modulated_conv_fused``) blurs the
2x-upsampled activations with a depthwise (``groups = N*O``) 4x4 convolution. Its
forward is fast, but on this CPU its backward is not: measured in one training step of
the default model (batch 4, 2 cores), 23 of 42 seconds went into the backward of these
four depthwise convolutions. :func:`modulated_conv_separable` computes the same blur as
two 1-D passes of shifted slices (the filter is separable: ``4 * outer(g, g)``), whose
backward is plain elementwise work; everything else is the fused path. Both agree to
float32 rounding (``tests/core/test_train_fast_blur.py``).

:func:`separable_blur` (a context manager) swaps it into ``generator.synthesis`` while
the trainer runs a step; inference keeps the generator's own path.
"""

import contextlib

import torch
import torch.nn.functional as F

from ..generator import synthesis
from ..generator.modulated import modulate_weights, modulated_conv_fused

_original = modulated_conv_fused  # the generator's own function, whatever the patch state


def blur_separable(y: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """y [N, C, S, S] (S = 2H + 1, the transposed-conv output) -> [N, C, S - 1, S - 1].

    Equals ``conv2d(y, 4 * outer(taps, taps) per channel, padding=1)`` plus bias [C];
    ``taps`` [4] sum to 1.
    """
    y = F.pad(y, [1, 1, 1, 1])
    size = y.shape[-1] - 3
    rows = sum(taps[a] * y[:, :, a : a + size, :] for a in range(4))
    out = sum(taps[b] * rows[:, :, :, b : b + size] for b in range(4)) * 4.0
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out


def modulated_conv_separable(x, weight, styles, demodulate, up=1, blur_weight=None, bias=None, gain=None, *extra, **options):
    """Same contract as ``modulated_conv_fused``; the up=2 blur runs as :func:`blur_separable`.

    Further arguments of the fused function (cached constants ...) pass through for up=1
    and are not needed for up=2 (the weights are modulated here from scratch).
    """
    if up == 1 or blur_weight is None:
        return _original(x, weight, styles, demodulate, up, blur_weight, bias, gain, *extra, **options)
    N, I, H, W = x.shape
    O, k = weight.shape[0], weight.shape[-1]
    w = modulate_weights(weight, styles, demodulate, gain)  # [N, O, I, k, k]
    w = w.transpose(1, 2).reshape(N * I, O, k, k)
    y = F.conv_transpose2d(x.reshape(1, N * I, H, W), w, stride=2, groups=N)  # [1, N*O, 2H+1, 2W+1]
    taps = blur_weight[0, 0].sum(dim=1) / 4.0  # blur_weight[c, 0] = 4 * outer(taps, taps)
    y = blur_separable(y.reshape(N, O, 2 * H + 1, 2 * W + 1), taps, bias)
    return y


@contextlib.contextmanager
def separable_blur():
    """Within the block, the generator's synthesis layers use :func:`modulated_conv_separable`."""
    original = synthesis.modulated_conv_fused
    synthesis.modulated_conv_fused = modulated_conv_separable
    try:
        yield
    finally:
        synthesis.modulated_conv_fused = original
