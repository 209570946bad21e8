"""Resizing pass planes to the model's resolution: one rule for rendering, training and masks.

Shrinking averages every covered pixel (``area``: no aliasing of thin regions such as lids
and lips); enlarging interpolates (``bilinear``, pixel centres aligned as images are).
"""

import torch.nn.functional as F


def resize_planes(planes, size):
    """planes [N, C, H, W] -> [N, C, size, size] (unchanged when already that size)."""
    if planes.shape[-2:] == (size, size):
        return planes
    if planes.shape[-1] > size:
        return F.interpolate(planes, size=(size, size), mode="area")
    return F.interpolate(planes, size=(size, size), mode="bilinear", align_corners=False)
