"""Modulated convolution with demodulation (StyleGAN2's style injection).

Two implementations that agree to float32 rounding (``tests/core/test_generator_layers.py``):

- ``modulated_conv_reference``: one sample at a time, weights modulated and demodulated
  explicitly, upsampling by transposed conv followed by ``upfirdn2d_reference``.
- ``modulated_conv_fused``: the whole batch as one grouped convolution (``groups=N``),
  the blur as a depthwise conv that also adds the bias, and an optional output gain
  folded into the per-sample weights (so the previous layer's activation gain costs no
  pass over the activations). When autograd records (training), the blur runs as two 1-D
  passes of shifted slices instead (:func:`blur_separable`, same maths): the depthwise
  conv's backward was 55% of a training step on a 2-core CPU, the slices' is elementwise.

Shapes: x [N, I, H, W]; weight [O, I, k, k] raw (equalized-lr scaling is cancelled by
demodulation, or applied to the styles for ToRGB); styles [N, I].
"""

import torch
import torch.nn.functional as F

from .layers import upfirdn2d_reference

DEMOD_EPS = 1e-8  # added to the squared weight norm before the reciprocal square root


def modulate_weights(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool, gain=None) -> torch.Tensor:
    """Per-sample weights [N, O, I, k, k] = weight * styles (over I), demodulated per output.

    ``gain`` (scalar, optional) multiplies the result after demodulation: it stands for a
    constant factor on the layer's *input* activations.
    """
    w = weight.unsqueeze(0) * styles.reshape(styles.shape[0], 1, -1, 1, 1)
    if demodulate:
        d = (w.square().sum(dim=[2, 3, 4]) + DEMOD_EPS).rsqrt()  # [N, O]
        if gain is not None:
            d = d * gain
        return w * d.reshape(*d.shape, 1, 1, 1)
    if gain is not None:
        w = w * gain
    return w


def modulated_conv_reference(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool,
    up: int = 1,
    resample_filter: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reference path, one sample at a time. Returns [N, O, H*up, W*up] (no bias, no noise).

    up=2: stride-2 transposed conv (size 2H+1) then the FIR [4, 4] times 4, padding 1.
    """
    ws = modulate_weights(weight, styles, demodulate)
    k = weight.shape[-1]
    out = []
    for n in range(x.shape[0]):
        xn = x[n : n + 1]
        if up == 1:
            y = F.conv2d(xn, ws[n], padding=k // 2)
        else:
            y = F.conv_transpose2d(xn, ws[n].transpose(0, 1), stride=2)
            y = upfirdn2d_reference(y, resample_filter, pad=(1, 1), gain=4)
        out.append(y)
    return torch.cat(out)


def weight_constants(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What the fused path needs from a fixed weight [O, I, k, k]: the squared norms
    [O, I] summed over the kernel (for demodulation) and the transposed layout [I, O, k, k]
    (for the up-sampling transposed conv). Callers may cache them while the weight is fixed.
    """
    return weight.square().sum(dim=[2, 3]), weight.transpose(0, 1).contiguous()


def modulated_conv_fused(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool,
    up: int = 1,
    blur_weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    gain=None,
    constants: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Fused path: one grouped conv for the batch, bias added inside the last conv.

    The demodulation coefficients come from a small matrix product with the precomputed
    squared weight norms (``weight_constants``), so the per-sample weight is formed in a
    single multiply: weight * styles[i] * dcoef[o] (* gain).
    blur_weight: depthwise FIR [O, 1, 4, 4] (already times 4), needed when up=2.
    bias [O] (optional) is added by the conv (up=1) or by the blur (up=2); adding it
    there instead of after the noise only changes float rounding.
    Returns [N, O, H*up, W*up].
    """
    N, I, H, W = x.shape
    O, k = weight.shape[0], weight.shape[-1]
    weight_sq, weight_t = constants if constants is not None else weight_constants(weight)
    if demodulate:
        dcoefs = (styles.square() @ weight_sq.t() + DEMOD_EPS).rsqrt()  # [N, O]
        if gain is not None:
            dcoefs = dcoefs * gain
    else:
        dcoefs = torch.full([N, O], 1.0 if gain is None else float(gain), dtype=styles.dtype, device=styles.device)
    scale = styles.unsqueeze(1) * dcoefs.unsqueeze(2)  # [N, O, I]
    if k == 1 and up == 1:  # ToRGB: a batched matrix product beats a 1x1 conv
        w = scale * weight.reshape(1, O, I)  # [N, O, I]
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            y = torch.bmm(x.permute(0, 2, 3, 1).reshape(N, H * W, I), w.transpose(1, 2))  # [N, HW, O]
            if bias is not None:
                y = y.add_(bias)
            return y.reshape(N, H, W, O).permute(0, 3, 1, 2)  # channels_last view
        y = torch.bmm(w, x.reshape(N, I, H * W))
        if bias is not None:
            y = y.add_(bias.reshape(1, O, 1))
        return y.reshape(N, O, H, W)
    bias_per_output = bias
    if N > 1 and bias is not None:
        bias = bias.repeat(N)
    if N > 1:
        x = x.reshape(1, N * I, H, W)
    if up == 1:
        w = weight.unsqueeze(0) * scale.reshape(N, O, I, 1, 1)
        y = F.conv2d(x, w.reshape(N * O, I, k, k), bias=bias, padding=k // 2, groups=N)
        return y if N == 1 else y.reshape(N, O, H, W)
    w = weight_t.unsqueeze(0) * scale.transpose(1, 2).reshape(N, I, O, 1, 1)  # [N, I, O, k, k]
    y = F.conv_transpose2d(x, w.reshape(N * I, O, k, k), stride=2, groups=N)  # [1, N*O, 2H+1, 2W+1]
    if y.requires_grad:  # training: the same blur with a cheap backward
        taps = blur_weight[0, 0].sum(dim=1) / 4.0  # blur_weight[o, 0] = 4 * outer(taps, taps)
        return blur_separable(y.reshape(N, O, 2 * H + 1, 2 * W + 1), taps, bias_per_output)
    bw = blur_weight if N == 1 else blur_weight.repeat(N, 1, 1, 1)
    y = F.conv2d(y, bw, bias=bias, padding=1, groups=N * O)
    return y if N == 1 else y.reshape(N, O, 2 * H, 2 * W)


def blur_separable(y: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """y [N, C, S, S] (S = 2H + 1, the transposed conv's output) -> [N, C, S - 1, S - 1].

    Equals ``conv2d(y, 4 * outer(taps, taps) per channel, padding=1)`` plus bias [C],
    computed as a row pass then a column pass of four shifted slices; ``taps`` [4].
    """
    y = F.pad(y, [1, 1, 1, 1])
    size = y.shape[-1] - 3
    rows = sum(taps[a] * y[:, :, a : a + size, :] for a in range(4))
    out = sum(taps[b] * rows[:, :, :, b : b + size] for b in range(4)) * 4.0
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out
