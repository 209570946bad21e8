"""Synthesis network: W+ [N, num_ws, w_dim] -> image [N, img_channels, R, R].

One block per resolution 4, 8, ..., R. Block 4 starts from a learned constant
[C4, 4, 4]; every other block upsamples 2x in its first conv (``conv0``). Each block
ends with a ToRGB whose output is added to the 2x-upsampled running image ("skip").

W rows: block 4 uses w0 (conv1) and w1 (torgb); block 2^(k+3) uses w(2k+1) (conv0),
w(2k+2) (conv1) and w(2k+3) (torgb): each ToRGB shares its row with the next conv0.

Spatial conditioning hook: ``features[res]`` [N, C_res, res, res] is added to block
``res``'s activations after its last conv (``conv1``: after noise, bias, leaky ReLU,
sqrt(2) gain and clamp) and before its ToRGB, so it reaches both the image at ``res``
and every later block.

Two implementations, chosen by ``impl`` ("fast" default, or "reference"): see
``modulated.py``. In the fast path the activations between layers are kept *without*
the leaky ReLU's sqrt(2) gain, which every consumer folds into its weights.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .layers import LRELU_GAIN, LRELU_SLOPE, EqualizedLinear, depthwise_filter, make_filter_2d, upfirdn2d_reference, upsample_2x
from .modulated import modulated_conv_fused, modulated_conv_reference, weight_constants

NOISE_MODES = ("const", "random", "none")
CHANNELS_LAST_FROM = 64  # fast path: blocks at this resolution and above run channels_last
IMPLS = ("fast", "reference")


def _cached_constants(layer):
    """``weight_constants(layer.weight)``, cached while the weight is unchanged and no
    gradient is needed (inference: computed once per loaded model, not once per frame)."""
    weight = layer.weight
    if torch.is_grad_enabled() and weight.requires_grad:
        return weight_constants(weight)
    key = (weight.data_ptr(), weight._version, weight.dtype, weight.device)
    cache = layer.__dict__.get("_constants_cache")
    if cache is None or cache[0] != key:
        cache = (key, weight_constants(weight.detach()))
        layer.__dict__["_constants_cache"] = cache
    return cache[1]


def _noise(layer, x, noise_mode, generator):
    """The noise term to add, broadcastable to x [N, C, r, r], or None."""
    if noise_mode == "none":
        return None
    if noise_mode == "const":
        return layer.noise_const * layer.noise_strength  # [r, r]
    r = layer.resolution
    shape = [x.shape[0], 1, r, r]
    noise = torch.randn(shape, generator=generator, device=generator.device if generator else x.device)
    return noise.to(x.device, x.dtype) * layer.noise_strength


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x up), noise, bias, leaky ReLU, optional clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,  # output side in pixels
        up: int = 1,  # 1 or 2
        resample_filter: torch.Tensor | None = None,  # FIR [4, 4] (sum 1), needed when up=2
        conv_clamp: float | None = None,  # clamp output to +-conv_clamp (None = off)
    ):
        super().__init__()
        self.resolution, self.up, self.conv_clamp = resolution, up, conv_clamp
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        if up == 2:
            self.register_buffer("resample_filter", resample_filter.clone(), persistent=False)
            self.register_buffer("blur_weight", depthwise_filter(resample_filter, out_channels, 4, torch.float32, "cpu"), persistent=False)

    def forward(self, x, w, noise_mode="const", impl="fast", in_gain=None, generator=None):
        """x [N, I, r/up, r/up], w [N, w_dim] -> [N, O, r, r].

        Fast path: the input is taken as ``in_gain * x`` and the output is returned
        divided by sqrt(2) (see module docstring).
        """
        styles = self.affine(w)
        noise = _noise(self, x, noise_mode, generator)
        if impl == "reference":
            x = modulated_conv_reference(x, self.weight, styles, True, self.up, getattr(self, "resample_filter", None))
            if noise is not None:
                x = x + noise
            x = F.leaky_relu(x + self.bias.reshape(1, -1, 1, 1), LRELU_SLOPE) * LRELU_GAIN
            if self.conv_clamp is not None:
                x = x.clamp(-self.conv_clamp, self.conv_clamp)
            return x
        blur_weight = getattr(self, "blur_weight", None)
        if blur_weight is not None:
            blur_weight = blur_weight.to(x.dtype)
        x = modulated_conv_fused(x, self.weight, styles, True, self.up, blur_weight, self.bias, in_gain, _cached_constants(self))
        if noise is not None:
            x.add_(noise)
        F.leaky_relu_(x, LRELU_SLOPE)
        if self.conv_clamp is not None:  # in place only when autograd does not need the ReLU output
            limit = self.conv_clamp / LRELU_GAIN
            x = x.clamp(-limit, limit) if torch.is_grad_enabled() else x.clamp_(-limit, limit)
        return x


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation, plus bias (and clamp)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x, w, impl="fast", in_gain=None):
        """x [N, I, r, r], w [N, w_dim] -> [N, img_channels, r, r]."""
        styles = self.affine(w) * self.weight_gain
        if impl == "reference":
            x = modulated_conv_reference(x, self.weight, styles, demodulate=False)
            x = x + self.bias.reshape(1, -1, 1, 1)
        else:
            x = modulated_conv_fused(x, self.weight, styles, False, bias=self.bias, gain=in_gain, constants=_cached_constants(self))
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x


class SynthesisBlock(nn.Module):
    """All layers of one resolution: [const |] conv0 (up 2x), conv1, torgb."""

    def __init__(
        self,
        in_channels: int,  # channels coming from the previous block (0 for block 4)
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        resample_filter: torch.Tensor,  # FIR [4, 4], sum 1
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.resolution = resolution
        self.out_channels = out_channels
        self.channels_last_from = CHANNELS_LAST_FROM  # see SynthesisNetwork.set_channels_last_from
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
            self.num_conv = 1
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, 2, resample_filter, conv_clamp)
            self.num_conv = 2
            self.register_buffer("resample_filter", resample_filter.clone(), persistent=False)
            self.register_buffer(
                "img_up_weight", depthwise_filter(resample_filter, img_channels, 4, torch.float32, "cpu"), persistent=False
            )
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, 1, None, conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp)

    def forward(self, x, img, ws, noise_mode="const", impl="fast", feature=None, generator=None):
        """x [N, I, r/2, r/2] or None, img [N, 3, r/2, r/2] or None, ws [N, num_conv + 1, w_dim].

        Returns (x [N, O, r, r], img [N, 3, r, r]).
        """
        fast = impl == "fast"
        gain = LRELU_GAIN if fast else None
        if fast and x is not None and self.resolution >= self.channels_last_from:
            x = x.contiguous(memory_format=torch.channels_last)
            img = img.contiguous(memory_format=torch.channels_last)
        if self.num_conv == 1:
            x = self.const.to(ws.dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0], noise_mode, impl, None, generator)
        else:
            x = self.conv0(x, ws[:, 0], noise_mode, impl, gain, generator)
            x = self.conv1(x, ws[:, 1], noise_mode, impl, gain, generator)
        if feature is not None:
            expected = [x.shape[0], self.out_channels, self.resolution, self.resolution]
            if list(feature.shape) != expected:
                raise ValueError(f"features[{self.resolution}] must be {expected}, got {list(feature.shape)}")
            x = x + (feature / LRELU_GAIN if fast else feature).to(x.dtype)
        y = self.torgb(x, ws[:, -1], impl, gain)
        if img is None:
            return x, y
        if fast:
            img = upsample_2x(img, self.img_up_weight.to(img.dtype))
            return x, img.add_(y)
        return x, upfirdn2d_reference(img, self.resample_filter, up=2, pad=(2, 1), gain=4) + y


class SynthesisNetwork(nn.Module):
    """Blocks 4..R; forward(ws) -> image [N, img_channels, R, R] (not clamped)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.w_dim = config.w_dim
        self.num_ws = config.num_ws
        self.block_resolutions = config.block_resolutions
        taps = np.asarray(config.resample_filter, dtype=np.float64)
        if len(taps) != 4 or not np.allclose(taps, taps[::-1]):
            raise ValueError(f"resample_filter must be 4 symmetric taps, got {list(taps)}")
        f = make_filter_2d(taps)
        previous = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(previous, config.channels[res], config.w_dim, res, config.img_channels, f, config.conv_clamp)
            setattr(self, f"b{res}", block)
            previous = config.channels[res]

    def set_channels_last_from(self, resolution: int | None) -> None:
        """Fast path memory layout: blocks at ``resolution`` and above keep activations
        channels_last (NHWC), where the depthwise blur and the transposed conv run about
        2.5x and 1.3x faster on this CPU; None = always NCHW. Results change only by
        float rounding (tests compare layouts)."""
        for res in self.block_resolutions:
            getattr(self, f"b{res}").channels_last_from = (1 << 30) if resolution is None else resolution

    def forward(self, ws, noise_mode="const", features=None, impl="fast", noise_generator=None):
        """ws [N, num_ws, w_dim]; features {res: [N, C_res, res, res]} (optional)."""
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        features = features or {}
        unknown = sorted(set(features) - set(self.block_resolutions))
        if unknown:
            raise ValueError(f"features given for resolutions {unknown}; blocks are {self.block_resolutions}")
        x = img = None
        w_index = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_index, block.num_conv + 1)
            w_index += block.num_conv
            x, img = block(x, img, block_ws, noise_mode, impl, features.get(res), noise_generator)
        return img.contiguous()
