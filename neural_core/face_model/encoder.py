"""PassEncoder: input planes [N, C_in, R, R] -> features {res: [N, C_res, res, res]}.

A small convolutional pyramid: a stem at full resolution, then one stride-2 stage per
octave down to ``min_resolution``. Each level's activations are projected by a 1x1 conv
to the generator block's width and handed to the synthesis network's ``features`` hook
(added after each block's last conv). The projections start at a small scale so the
untrained model behaves like the plain generator.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .resample import resize_planes

LRELU_SLOPE = 0.2  # negative slope of the encoder's leaky ReLUs
PROJECTION_INIT = 0.1  # initial scale of the 1x1 feature projections


class EncoderStage(nn.Module):
    """(optional stride-2 3x3 conv) + 3x3 conv, each followed by a leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, down: bool):
        super().__init__()
        self.conv0 = nn.Conv2d(in_channels, out_channels, 3, stride=2 if down else 1, padding=1)
        self.conv1 = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, x):
        x = F.leaky_relu(self.conv0(x), LRELU_SLOPE)
        return F.leaky_relu(self.conv1(x), LRELU_SLOPE)


class PassEncoder(nn.Module):
    """Features for every generator block from ``resolution`` down to ``min_resolution``."""

    def __init__(
        self,
        encoder_config,  # EncoderConfig
        generator_config,  # GeneratorConfig: its resolution and per-block channels
    ):
        super().__init__()
        self.resolution = generator_config.resolution
        self.in_planes = encoder_config.in_planes
        self.resolutions = [r for r in generator_config.block_resolutions if r >= encoder_config.min_resolution][::-1]
        previous = self.in_planes
        for i, res in enumerate(self.resolutions):
            width = encoder_config.width(res)
            setattr(self, f"s{res}", EncoderStage(previous, width, down=i > 0))
            projection = nn.Conv2d(width, generator_config.channels[res], 1)
            with torch.no_grad():
                projection.weight.mul_(PROJECTION_INIT)
                projection.bias.zero_()
            setattr(self, f"p{res}", projection)
            previous = width

    def forward(self, planes: torch.Tensor) -> dict:
        """planes [N, in_planes, H, W] (resized to the model resolution if needed) -> {res: features}."""
        if planes.ndim != 4 or planes.shape[1] != self.in_planes:
            raise ValueError(f"planes must be [N, {self.in_planes}, H, W], got {list(planes.shape)}")
        planes = resize_planes(planes, self.resolution)
        features = {}
        x = planes
        for res in self.resolutions:
            x = getattr(self, f"s{res}")(x)
            features[res] = getattr(self, f"p{res}")(x)
        return features
