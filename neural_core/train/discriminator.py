"""Conditional discriminator: image + passes (concatenated) -> logit, coefficients by projection.

Input: RGB [N, 3, R, R] (multiplied by the mask: the background is not judged) and the
pass planes [N, C_in, R, R]; a 1x1 conv reads both, residual stride-2 blocks go down to
4x4, then a linear layer gives the unconditional logit, plus the projection term
<embed(c), h> (Miyato & Koyama) for the coefficients c [N, c_dim].

``equalized``: every layer's weight is stored ~N(0, 1) and scaled by 1/sqrt(fan-in) in the
forward pass (StyleGAN's equalized learning rate: the generator's ``EqualizedLinear``, and
:class:`ScaledConv2d` here), so an Adam step moves every layer by
the same share of its weights whatever its width. Without it (PyTorch's default init, as
runs made before 2026-11-26 keep), Adam's steps are large against a wide layer's small
weights: the `cuda-512` discriminator (512 channels, lr 0.002) blew up within five steps of
the adversarial term starting, to losses of 1e7 (tests/core/test_discriminator.py).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..generator.layers import EqualizedLinear

LRELU_SLOPE = 0.2


class ScaledConv2d(nn.Conv2d):
    """nn.Conv2d (same parameters and state-dict keys) whose weight is multiplied by
    ``gain`` in the forward pass: 1/sqrt(fan-in) when ``equalized``, else 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, equalized: bool, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, **kwargs)
        self.gain = _equalize(self) if equalized else 1.0

    def forward(self, x):
        return self._conv_forward(x, self.weight * self.gain, self.bias) if self.gain != 1.0 else super().forward(x)


def _equalize(layer):
    """Weights ~N(0, 1), biases 0; returns the forward gain 1/sqrt(fan-in)."""
    with torch.no_grad():
        layer.weight.normal_()
        if layer.bias is not None:
            layer.bias.zero_()
    return 1.0 / math.sqrt(layer.weight[0].numel())


def _linear(in_features: int, out_features: int, equalized: bool):
    """The generator's EqualizedLinear, or nn.Linear (the same parameters and state-dict keys)."""
    return EqualizedLinear(in_features, out_features) if equalized else nn.Linear(in_features, out_features)


class DownBlock(nn.Module):
    """Two 3x3 convs and an average-pool, with a 1x1 skip; output scaled by 1/sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int, equalized: bool = False):
        super().__init__()
        self.conv0 = ScaledConv2d(in_channels, in_channels, 3, equalized, padding=1)
        self.conv1 = ScaledConv2d(in_channels, out_channels, 3, equalized, padding=1)
        self.skip = ScaledConv2d(in_channels, out_channels, 1, equalized, bias=False)

    def forward(self, x):
        y = F.leaky_relu(self.conv0(x), LRELU_SLOPE)
        y = F.avg_pool2d(F.leaky_relu(self.conv1(y), LRELU_SLOPE), 2)
        return (y + self.skip(F.avg_pool2d(x, 2))) / math.sqrt(2)


class ConditionalDiscriminator(nn.Module):
    def __init__(
        self,
        resolution: int,  # input side in pixels
        in_planes: int,  # pass planes concatenated to the RGB image
        c_dim: int,  # coefficient vector size (0 = no projection term)
        channel_base: int = 2048,  # width at resolution r: min(channel_base // r, channel_max)
        channel_max: int = 128,  # cap on widths
        equalized: bool = False,  # equalized learning rate (module docstring); the same state-dict keys either way
    ):
        super().__init__()
        self.resolution, self.in_planes, self.c_dim = resolution, in_planes, c_dim
        resolutions = [2**i for i in range(int(math.log2(resolution)), 2, -1)]  # R, R/2, ..., 8
        width = lambda r: max(8, min(channel_base // r, channel_max))  # noqa: E731
        self.from_input = ScaledConv2d(3 + in_planes, width(resolution), 1, equalized)
        self.blocks = nn.ModuleList(DownBlock(width(r), width(r // 2), equalized) for r in resolutions)
        final = width(4)
        self.conv = ScaledConv2d(final, final, 3, equalized, padding=1)
        self.fc = _linear(final * 16, final, equalized)
        self.out = _linear(final, 1, equalized)
        self.embed = _linear(c_dim, final, equalized) if c_dim else None

    def forward(self, image, planes, c=None):
        """image [N, 3, R, R], planes [N, C_in, R, R], c [N, c_dim] -> logits [N]."""
        if image.shape[-1] != self.resolution or planes.shape[1] != self.in_planes:
            raise ValueError(f"expected image [N, 3, {self.resolution}, {self.resolution}] and {self.in_planes} planes, "
                             f"got {list(image.shape)} and {list(planes.shape)}")
        x = F.leaky_relu(self.from_input(torch.cat([image, planes], dim=1)), LRELU_SLOPE)
        for block in self.blocks:
            x = block(x)
        x = F.leaky_relu(self.conv(x), LRELU_SLOPE)
        h = F.leaky_relu(self.fc(x.flatten(1)), LRELU_SLOPE)  # [N, final]
        logits = self.out(h).squeeze(1)
        if self.embed is not None and c is not None:
            logits = logits + (self.embed(c) * h).sum(dim=1) / math.sqrt(h.shape[1])
        return logits
