"""Losses: non-saturating logistic GAN loss, lazy R1, multi-scale masked L1.

Images are [N, 3, H, W] in [-1, 1]; masks [N, 1, H, W] in 0..1.
"""

import torch
import torch.nn.functional as F


def generator_adversarial(fake_logits):
    """Non-saturating: mean softplus(-D(G(x)))."""
    return F.softplus(-fake_logits).mean()


def discriminator_adversarial(real_logits, fake_logits):
    """mean softplus(D(fake)) + mean softplus(-D(real))."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def r1_penalty(real_logits, real_images):
    """Mean over the batch of |d D(real) / d real|^2 (real_images must require grad)."""
    (gradient,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return gradient.square().sum(dim=[1, 2, 3]).mean()


def masked_l1(output, target, mask, scales: int = 4):
    """Mean over ``scales`` resolutions (full, 1/2, 1/4 ...) of the L1 error inside the mask.

    At each scale images and mask are average-pooled; the error is summed over the
    mask and divided by its area (x 3 channels), so empty masks give 0, not NaN. Scales
    stop at 1 px.
    """
    total = output.new_zeros([])
    scales = max(1, min(scales, output.shape[-1].bit_length() - 1))  # never pool below 1 px
    for scale in range(scales):
        if scale:
            output, target, mask = (F.avg_pool2d(t, 2) for t in (output, target, mask))
        error = (output - target).abs() * mask
        total = total + error.sum() / (mask.sum() * output.shape[1]).clamp_min(1.0)
    return total / scales
