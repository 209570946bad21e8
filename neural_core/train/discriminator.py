"""Conditional discriminator: image + passes (concatenated) -> logit, coefficients by projection.

Input: RGB [N, 3, R, R] (multiplied by the mask: the background is not judged) and the
pass planes [N, C_in, R, R]; a 1x1 conv reads both, residual stride-2 blocks go down to
4x4, then a linear layer gives the unconditional logit, plus the projection term
<embed(c), h> (Miyato & Koyama) for the coefficients c [N, c_dim].
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2


class DownBlock(nn.Module):
    """Two 3x3 convs and an average-pool, with a 1x1 skip; output scaled by 1/sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)

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
    ):
        super().__init__()
        self.resolution, self.in_planes, self.c_dim = resolution, in_planes, c_dim
        resolutions = [2**i for i in range(int(math.log2(resolution)), 2, -1)]  # R, R/2, ..., 8
        width = lambda r: max(8, min(channel_base // r, channel_max))  # noqa: E731
        self.from_input = nn.Conv2d(3 + in_planes, width(resolution), 1)
        self.blocks = nn.ModuleList(DownBlock(width(r), width(r // 2)) for r in resolutions)
        final = width(4)
        self.conv = nn.Conv2d(final, final, 3, padding=1)
        self.fc = nn.Linear(final * 16, final)
        self.out = nn.Linear(final, 1)
        self.embed = nn.Linear(c_dim, final) if c_dim else None

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
