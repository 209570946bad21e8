"""ConditionalModel: pass encoder + coefficient-conditioned StyleGAN2 generator.

- coefficients c [N, c_dim] (rig values in ``config.coefficient_names`` order) are the
  mapping network's condition;
- the appearance latent z [N, z_dim] gives what the rig does not fix (skin, lighting);
- input planes [N, C_in, R, R] (``inputs.pass_planes``) go through the pass encoder,
  whose features enter every synthesis block through the generator's ``features`` hook.

The output is RGB in [-1, 1] (sRGB, not clamped) from :meth:`forward`, or RGBA in
[0, 1] from :meth:`rgba` with alpha = the mask pass.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..generator import Generator
from .config import ConditionalConfig
from .encoder import PassEncoder


class ConditionalModel(nn.Module):
    def __init__(self, config: ConditionalConfig, impl: str = "fast"):
        super().__init__()
        self.config = config
        self.generator = Generator(config.generator, impl=impl)
        self.encoder = PassEncoder(config.encoder, config.generator)
        self.resolution = config.generator.resolution
        self.z_dim = config.generator.z_dim
        self.c_dim = config.generator.c_dim
        passes = config.encoder.passes
        self._mask_plane = None
        if "mask" in passes:
            self._mask_plane = sum(config.encoder.num_regions if p == "regions" else _planes(p) for p in passes[: passes.index("mask")])

    def forward(self, planes, coefficients, z, *, noise_mode: str | None = None, truncation_psi: float = 1.0, noise_generator=None):
        """planes [N, C_in, H, W], coefficients [N, c_dim], z [N, z_dim] -> RGB [N, 3, R, R] in [-1, 1] (not clamped)."""
        N = planes.shape[0]
        if coefficients.shape != (N, self.c_dim):
            raise ValueError(f"coefficients must be [{N}, {self.c_dim}], got {list(coefficients.shape)}")
        if z.shape != (N, self.z_dim):
            raise ValueError(f"z must be [{N}, {self.z_dim}], got {list(z.shape)}")
        features = self.encoder(planes)
        return self.generator(z, coefficients, truncation_psi=truncation_psi, noise_mode=noise_mode or self.config.noise_mode,
                              features=features, noise_generator=noise_generator)

    def mask(self, planes) -> torch.Tensor:
        """Head coverage [N, 1, R, R] in 0..1 from the planes (mask plane, or the region planes' sum)."""
        if self._mask_plane is not None:
            mask = planes[:, self._mask_plane : self._mask_plane + 1]
        else:
            mask = planes.new_ones(planes[:, :1].shape)
        if mask.shape[-1] != self.resolution:
            mask = F.interpolate(mask, size=(self.resolution, self.resolution), mode="area" if mask.shape[-1] > self.resolution else "bilinear")
        return mask.clamp(0, 1)

    @torch.no_grad()
    def rgba(self, planes, coefficients, z, **options) -> torch.Tensor:
        """RGBA [N, 4, R, R] in [0, 1]: sRGB colour (straight, not premultiplied), alpha = mask."""
        rgb = self.forward(planes, coefficients, z, **options)
        rgb = (rgb.clamp(-1, 1) + 1) * 0.5
        return torch.cat([rgb, self.mask(planes)], dim=1)


def _planes(name):
    from .config import PASS_PLANES

    return PASS_PLANES[name]
