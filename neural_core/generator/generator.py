"""Generator: mapping network + synthesis network, with truncation and W+ input."""

import torch
from torch import nn

from .config import GeneratorConfig
from .mapping import MappingNetwork, truncate
from .synthesis import SynthesisNetwork


class Generator(nn.Module):
    """StyleGAN2 generator (skip output, optional class/vector conditioning).

    Call ``G(z, c)`` or ``G(ws=wplus)``; see :meth:`forward`. Attributes ``config``,
    ``num_ws``, ``source_format`` (set by the loaders) and ``impl`` ("fast" or
    "reference", the synthesis implementation used by default).
    """

    def __init__(self, config: GeneratorConfig, impl: str = "fast"):
        super().__init__()
        self.config = config
        self.z_dim, self.c_dim, self.w_dim = config.z_dim, config.c_dim, config.w_dim
        self.num_ws = config.num_ws
        self.img_resolution = config.resolution
        self.img_channels = config.img_channels
        self.impl = impl
        self.source_format = "neural_face"
        self.mapping = MappingNetwork(
            config.z_dim,
            config.c_dim,
            config.w_dim,
            config.num_ws,
            num_layers=config.mapping_layers,
            embed_features=config.embed_features,
            layer_features=config.layer_features,
            lr_multiplier=config.mapping_lr_multiplier,
            w_avg_beta=config.w_avg_beta,
        )
        self.synthesis = SynthesisNetwork(config)

    @property
    def dtype(self):
        return self.synthesis.b4.const.dtype

    def forward(
        self,
        z: torch.Tensor | None = None,
        c: torch.Tensor | None = None,
        *,
        ws: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        features: dict | None = None,
        noise_generator: torch.Generator | None = None,
        impl: str | None = None,
    ) -> torch.Tensor:
        """Images [N, img_channels, R, R], float32, nominally in [-1, 1] (not clamped).

        z [N, z_dim] and c [N, c_dim] (conditional models only) go through the mapping
        network; or pass ``ws``: W+ [N, num_ws, w_dim] (or one W [N, w_dim], repeated).
        truncation_psi / truncation_cutoff: move the first ``cutoff`` rows of W+ towards
        ``mapping.w_avg`` (applies to given ``ws`` too). noise_mode: "const" (the stored
        noise maps), "random" (fresh N(0,1) maps from ``noise_generator``) or "none".
        features: the spatial conditioning hook, see ``synthesis.py``.
        """
        if ws is None:
            if z is None:
                raise ValueError("pass z (and c) or ws")
            ws = self.mapping(z.to(self.dtype), None if c is None else c.to(self.dtype), truncation_psi, truncation_cutoff)
        else:
            if z is not None:
                raise ValueError("pass either z or ws, not both")
            ws = ws.to(self.dtype)
            if ws.ndim == 2:
                ws = ws.unsqueeze(1).repeat([1, self.num_ws, 1])
            ws = truncate(ws, self.mapping.w_avg, truncation_psi, truncation_cutoff)
        if features:
            features = {int(r): f.to(self.dtype) for r, f in features.items()}
        img = self.synthesis(ws, noise_mode, features, impl or self.impl, noise_generator)
        return img.float()

    def extra_repr(self) -> str:
        c = self.config
        return f"resolution={c.resolution}, z_dim={c.z_dim}, w_dim={c.w_dim}, c_dim={c.c_dim}, num_ws={self.num_ws}"
