"""Building blocks: the equalized-learning-rate linear layer and FIR resampling.

FIR resampling has two implementations that agree to float32 rounding:
- ``upfirdn2d_reference``: zero insertion, padding, then a depthwise convolution;
  written for clarity and used by the reference path and the tests;
- ``upsample_2x`` / ``blur``: the same operations as one depthwise (``groups=C``)
  transposed or plain convolution, which is 3-4x faster on CPU than convolving a
  ``[N*C, 1, H, W]`` batch.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2  # negative slope of every leaky ReLU in the network
LRELU_GAIN = math.sqrt(2.0)  # gain after each leaky ReLU, keeps the activation variance


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row of ``x`` [N, F] to unit mean square."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class EqualizedLinear(nn.Module):
    """Fully connected layer with the equalized learning rate trick.

    ``weight`` [out, in] and ``bias`` [out] hold raw values; the forward pass scales them by
    ``lr_multiplier / sqrt(in)`` and ``lr_multiplier``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias_init: float = 0.0,  # initial bias value (1 for style affines)
        lr_multiplier: float = 1.0,  # runtime gain on weight and bias (0.01 in the mapping net)
        activation: str = "linear",  # "linear" or "lrelu" (leaky ReLU times sqrt 2)
    ):
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"activation must be 'linear' or 'lrelu', got {activation!r}")
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def scaled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight * weight_gain, bias * bias_gain); cached while the raw values are
        unchanged and no gradient is needed, so inference does not rescale every call."""
        if torch.is_grad_enabled() and (self.weight.requires_grad or self.bias.requires_grad):
            return self._scale(self.weight, self.bias)
        key = (
            self.weight.data_ptr(),
            self.weight._version,
            self.bias.data_ptr(),
            self.bias._version,
            self.weight.dtype,
            self.weight.device,
        )
        cache = self.__dict__.get("_scaled_cache")
        if cache is None or cache[0] != key:
            cache = (key, self._scale(self.weight.detach(), self.bias.detach()))
            self.__dict__["_scaled_cache"] = cache
        return cache[1]

    def _scale(self, weight, bias):
        return weight * self.weight_gain, (bias * self.bias_gain if self.bias_gain != 1 else bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, in] -> [N, out]."""
        w, b = self.scaled()
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        x = x.matmul(w.t()) + b.unsqueeze(0)
        return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


def make_filter_2d(taps) -> torch.Tensor:
    """Separable 2-D FIR [k, k] from 1-D taps, normalised to sum 1."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d_reference(x: torch.Tensor, f: torch.Tensor, up: int = 1, pad=(0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad, and filter: the textbook definition.

    x [N, C, H, W]; f [k, k] (symmetric FIR); pad (before, after) on both axes.
    Returns [N, C, H*up + before + after - k + 1, ...].
    """
    N, C, H, W = x.shape
    if up > 1:
        x = x.reshape(N, C, H, 1, W, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(N, C, H * up, W * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    weight = (f * gain).flip([0, 1])[None, None].repeat(C, 1, 1, 1).to(x.dtype)
    return F.conv2d(x, weight, groups=C)


def depthwise_filter(f: torch.Tensor, channels: int, gain: float, dtype, device) -> torch.Tensor:
    """FIR f [k, k] times gain, repeated as a depthwise weight [channels, 1, k, k]."""
    return (f * gain).to(device=device, dtype=dtype).expand(channels, 1, *f.shape).contiguous()


def upsample_2x(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """2x FIR upsampling (zero insertion, pad (2, 1), 4x4 filter) as one depthwise transposed conv.

    x [N, C, H, W]; weight [C, 1, 4, 4] from ``depthwise_filter(f, C, gain=4)``.
    Returns [N, C, 2H, 2W]. Requires a symmetric 4-tap filter.
    """
    return F.conv_transpose2d(x, weight, stride=2, padding=1, groups=x.shape[1])


def blur(x: torch.Tensor, weight: torch.Tensor, padding: int, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Depthwise FIR filter, optionally adding a per-channel bias in the same pass.

    x [N, C, H, W]; weight [C, 1, k, k]; returns [N, C, H + 2*padding - k + 1, ...].
    """
    return F.conv2d(x, weight, bias=bias, padding=padding, groups=x.shape[1])
