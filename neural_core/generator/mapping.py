"""Mapping network: z [N, z_dim] (and c [N, c_dim]) -> W+ [N, num_ws, w_dim].

Conditioning follows NVlabs' conditional mapping: c is embedded by a linear layer,
normalised to unit mean square like z, and concatenated after z.
"""

import torch
from torch import nn

from .layers import EqualizedLinear, normalize_2nd_moment


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
    """Move ws [N, L, w_dim] towards w_avg [w_dim] (psi = 1: unchanged; 0: all w_avg).

    Uses ``torch.lerp(w_avg, w, psi)`` so it matches NVlabs bit for bit. ``cutoff``: only
    rows ``< cutoff`` are truncated (None = all).
    """
    if psi == 1:
        return ws
    ws = ws.clone()
    rows = slice(None) if cutoff is None else slice(None, cutoff)
    ws[:, rows] = w_avg.lerp(ws[:, rows], psi)
    return ws


class MappingNetwork(nn.Module):
    """MLP from z (+ embedded c) to W, with ``w_avg`` (buffer [w_dim]) for truncation."""

    def __init__(
        self,
        z_dim: int,  # input latent size
        c_dim: int,  # conditioning size, 0 = none
        w_dim: int,  # output latent size
        num_ws: int,  # how many times W is repeated in the output (W+ rows)
        num_layers: int = 8,  # fully connected layers
        embed_features: int | None = None,  # size of embedded c (None = w_dim)
        layer_features: int | None = None,  # hidden width (None = w_dim)
        lr_multiplier: float = 0.01,  # runtime gain on the raw weights and biases
        w_avg_beta: float = 0.995,  # decay of the w_avg running mean while training
    ):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        embed_features = w_dim if embed_features is None else embed_features
        layer_features = w_dim if layer_features is None else layer_features
        if c_dim:
            self.embed = EqualizedLinear(c_dim, embed_features)
        features = [z_dim + (embed_features if c_dim else 0)] + [layer_features] * (num_layers - 1) + [w_dim]
        for i in range(num_layers):
            layer = EqualizedLinear(features[i], features[i + 1], activation="lrelu", lr_multiplier=lr_multiplier)
            setattr(self, f"fc{i}", layer)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c=None, truncation_psi: float = 1.0, truncation_cutoff: int | None = None):
        """z [N, z_dim], c [N, c_dim] or None -> ws [N, num_ws, w_dim]."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [N, {self.z_dim}], got {list(z.shape)}")
        x = normalize_2nd_moment(z)
        if self.c_dim:
            if c is None or c.ndim != 2 or c.shape[0] != z.shape[0] or c.shape[1] != self.c_dim:
                got = None if c is None else list(c.shape)
                raise ValueError(f"this generator is conditional: c must be [{z.shape[0]}, {self.c_dim}], got {got}")
            y = normalize_2nd_moment(self.embed(c.to(x.dtype)))
            x = torch.cat([x, y], dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        return truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)
