"""ConditionalModel: pass encoder + coefficient-conditioned StyleGAN2 generator.

- coefficients c [N, c_dim] (rig values in ``config.coefficient_names`` order) are the
  mapping network's condition;
- the appearance latent z [N, z_dim] gives what the rig does not fix (skin, lighting);
  a model trained with per-frame appearance codes (``appearance.py``) instead adds a
  learnt code's W offset (``appearance=`` argument) and is given z = 0;
- input planes [N, C_in, R, R] (``inputs.pass_planes``) go through the pass encoder,
  whose features enter every synthesis block through the generator's ``features`` hook.

A loaded model (``checkpoint.load_conditional``) holds the identity inputs its training
frames never varied at their trained values (``held_inputs.py``); a model being trained
holds none.

The output is RGB in [-1, 1] (sRGB, not clamped) from :meth:`forward`, or RGBA in
[0, 1] from :meth:`rgba` with alpha = the mask pass.
"""

import torch
from torch import nn

from ..generator import Generator
from .appearance import AppearanceCodes
from .config import ConditionalConfig
from .encoder import PassEncoder
from .resample import resize_planes


class ConditionalModel(nn.Module):
    def __init__(self, config: ConditionalConfig, impl: str = "fast"):
        super().__init__()
        self.config = config
        self.generator = Generator(config.generator, impl=impl)
        self.encoder = PassEncoder(config.encoder, config.generator)
        self.appearance = None  # per-frame codes; absent (not even in the state dict) when the config has none
        if config.appearance_code_dim:
            self.appearance = AppearanceCodes(len(config.appearance_frames), config.appearance_code_dim, config.generator.w_dim)
        self.held = None  # HeldInputs set by load_conditional (held_inputs.py); None while training
        self.resolution = config.generator.resolution
        self.z_dim = config.generator.z_dim
        self.c_dim = config.generator.c_dim
        passes = config.encoder.passes
        self._mask_plane = None
        if "mask" in passes:
            self._mask_plane = sum(config.encoder.num_regions if p == "regions" else _planes(p) for p in passes[: passes.index("mask")])

    def forward(self, planes, coefficients, z, *, appearance=None, noise_mode: str | None = None, truncation_psi: float = 1.0,
                noise_generator=None):
        """planes [N, C_in, H, W], coefficients [N, c_dim], z [N, z_dim] -> RGB [N, 3, R, R] in [-1, 1] (not clamped).

        ``appearance`` (models with codes only): training-frame indices int64 [N], codes
        [N, D] / [1, D], or None for the mean code (``AppearanceCodes.select``).
        """
        N = planes.shape[0]
        if coefficients.shape != (N, self.c_dim):
            raise ValueError(f"coefficients must be [{N}, {self.c_dim}], got {list(coefficients.shape)}")
        if z.shape != (N, self.z_dim):
            raise ValueError(f"z must be [{N}, {self.z_dim}], got {list(z.shape)}")
        if self.held:
            coefficients = self.held.apply(coefficients)
        features = self.encoder(planes)
        options = dict(truncation_psi=truncation_psi, noise_mode=noise_mode or self.config.noise_mode, features=features,
                       noise_generator=noise_generator)
        if self.appearance is None:
            if appearance is not None:
                raise ValueError("this model has no appearance codes: pass z only")
            return self.generator(z, coefficients, **options)
        dtype = self.generator.dtype
        ws = self.generator.mapping(z.to(dtype), coefficients.to(dtype))  # [N, num_ws, w_dim], not truncated yet
        ws = ws + self.appearance.offset(self.appearance.select(appearance, N)).to(ws.dtype)[:, None]
        return self.generator(ws=ws, **options)

    def mask(self, planes) -> torch.Tensor:
        """Head coverage [N, 1, R, R] in 0..1 from the planes (mask plane, or the region planes' sum)."""
        if self._mask_plane is not None:
            mask = planes[:, self._mask_plane : self._mask_plane + 1]
        else:
            mask = planes.new_ones(planes[:, :1].shape)
        return resize_planes(mask, self.resolution).clamp(0, 1)

    @torch.no_grad()
    def rgba(self, planes, coefficients, z, **options) -> torch.Tensor:
        """RGBA [N, 4, R, R] in [0, 1]: sRGB colour (straight, not premultiplied), alpha = mask."""
        rgb = self.forward(planes, coefficients, z, **options)
        rgb = (rgb.clamp(-1, 1) + 1) * 0.5
        return torch.cat([rgb, self.mask(planes)], dim=1)


def _planes(name):
    from .config import PASS_PLANES

    return PASS_PLANES[name]
