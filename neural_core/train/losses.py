"""Losses: non-saturating logistic GAN loss, lazy R1, multi-scale masked L1, skin colour consistency.

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


def r1_penalty(real_logits, real_images, scale: float = 1.0):
    """Mean over the batch of |d D(real) / d real|^2 (real_images must require grad).

    ``scale``: float16 loss scale (the gradient is taken of the scaled logits, so it does
    not underflow, then divided by it again; torch.amp's gradient-penalty recipe)."""
    (gradient,) = torch.autograd.grad(real_logits.sum() * scale, real_images, create_graph=True)
    if scale != 1.0:
        gradient = gradient / scale
    return gradient.float().square().sum(dim=[1, 2, 3]).mean()


def masked_l1(output, target, mask, scales: int = 4, weights=None, total_area=None):
    """Mean over ``scales`` resolutions (full, 1/2, 1/4 ...) of the L1 error inside the mask.

    At each scale images and mask are average-pooled; the error is summed over the
    mask and divided by its area (x 3 channels), so empty masks give 0, not NaN. Scales
    stop at 1 px. ``weights`` [N, 1, H, W] (optional, e.g. :func:`feature_weights`) scale
    each pixel's share; they are folded into the mask, so the result stays a weighted mean.

    ``total_area`` (several processes, each holding a slice of the batch): a function
    local area -> (area over all processes, process count). The error is then divided by
    the whole batch's area and multiplied by the count, so averaging the processes' losses
    and gradients (as DistributedDataParallel does) gives exactly the one-process loss.
    """
    if weights is not None:
        mask = mask * weights
    total = output.new_zeros([])
    scales = max(1, min(scales, output.shape[-1].bit_length() - 1))  # never pool below 1 px
    for scale in range(scales):
        if scale:
            output, target, mask = (F.avg_pool2d(t, 2) for t in (output, target, mask))
        error = (output - target).abs() * mask
        area = mask.sum() * output.shape[1]
        if total_area is None:
            total = total + error.sum() / area.clamp_min(1.0)
        else:
            area, count = total_area(area.detach())
            total = total + error.sum() * count / area.clamp_min(1.0)
    return total / scales


def feature_weights(regions, weight: float, grow: int = 7):
    """Per-pixel loss weights [N, 1, H, W]: 1, plus ``weight`` on the face's features.

    ``regions`` [N, R, H, W]: the one-hot region planes (plane 0 = skin). Every other
    region (lips, sclera, iris, brows, mouth interior, pupil) counts as a feature, grown
    by a ``grow`` x ``grow`` max filter so the lids, lip edges and brow borders around
    them count too. Small features decide whether a face reads (MediaPipe finds lids and
    lips there) but cover a few percent of the head, so the plain mean L1 hardly sees them.
    """
    features = regions[:, 1:].sum(dim=1, keepdim=True).clamp(0, 1)
    grown = F.max_pool2d(features, grow, stride=1, padding=grow // 2)
    return 1.0 + weight * grown


def skin_log_chromaticity(images, skin, floor: float = 1e-4):
    """[N, 3] log of each image's mean skin colour (linear light, gamma 2.2 for sRGB), minus
    its mean over the channels: colour without brightness. ``images`` [N, 3, H, W] in
    [-1, 1]; ``skin`` [N, 1, H, W] weights."""
    linear = ((images.clamp(-1.0, 1.0) + 1.0) * 0.5).clamp_min(floor) ** 2.2
    mean = (linear * skin).sum(dim=(2, 3)) / skin.sum(dim=(2, 3)).clamp_min(1.0)
    log = mean.clamp_min(floor).log()
    return log - log.mean(dim=1, keepdim=True)


def skin_colour_gap(images, skin, reference, reference_skin, min_pixels: float = 16.0):
    """Mean over the frames of the L1 distance (over R, G, B) between the skin
    log-chromaticities of ``images`` and ``reference`` (each [N, 3, H, W] with its skin
    weights [N, 1, H, W]); pairs where either shows fewer than ``min_pixels`` skin pixels
    count 0. One look rendered at two poses should give one skin colour: this is how far
    apart they are."""
    present = ((skin.sum(dim=(1, 2, 3)) >= min_pixels) & (reference_skin.sum(dim=(1, 2, 3)) >= min_pixels)).float()
    gap = (skin_log_chromaticity(images, skin) - skin_log_chromaticity(reference, reference_skin)).abs().mean(dim=1)
    return (gap * present).sum() / present.sum().clamp_min(1.0)
