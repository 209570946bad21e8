"""The look of a held-out frame, fitted on one half of the frame and measured on the other.

An actor model learns one appearance code per *training* frame (lighting, exposure). A
held-out frame has its own light, which no rig value carries: driven by the mean code, a
model is measured against a light it was never told about. The usual way to measure such
models (NeRF in the Wild, GLO) fits the held-out frame's code alone, with every network
weight frozen, on the left half of the image, and measures the right half only, so no
pixel that is measured was seen by the fit. :func:`fit_codes` does that fit and
:func:`half_psnr` the measure; ``actor_model.evaluate`` reports it beside the mean-code
figures, over the same right-half pixels.

The fit: Adam on the codes [N, D] (starting at the mean code), ``steps`` steps of the
masked L1 between the output and the target over the head pixels of the left half, plus
``prior`` times the code's squared Mahalanobis distance (over D) from the training codes'
mean under their covariance: the training frames' looks are the prior of a new frame's.
Without it a fit long enough to find the light overfits the half it sees (numbers below).
"""

import numpy as np

# Chosen on the synthetic actor's odd held-out frames (32; actor model of 5,451 steps), right-half
# PSNR: prior 0.01: 10 steps 20.1 dB, 30: 21.3, 60: 21.8; prior 0: 60 steps 21.6 (the fit half
# 24.5: it overfits); prior 0.03: 21.7; prior 0.1: 21.3. Before: 10 steps at lr 0.1, no prior.
FIT_STEPS = 60  # Adam steps per batch of frames
FIT_LR = 0.05  # on codes whose training values are of order 1
FIT_PRIOR = 0.01  # weight of the training codes' Gaussian (Mahalanobis distance squared over D)
FIT_BATCH = 8  # frames per fit (the codes of a batch do not interact)


def halves(resolution: int):
    """(fit, measure) column masks [R, R] float32: the left half, the right half."""
    left = np.zeros((resolution, resolution), dtype=np.float32)
    left[:, : resolution // 2] = 1.0
    return left, 1.0 - left


def code_prior(codes):
    """(mean [D], inverse covariance [D, D]) of a model's training codes [F, D] (a torch
    tensor). The covariance gets 1e-6 of its mean variance on the diagonal, so a code
    dimension no frame moved stays invertible (and is held at the mean); codes that never
    moved at all (an untrained model) give no prior: an inverse of zeros."""
    import torch

    codes = codes.detach().double()
    size = codes.shape[1]
    covariance = torch.cov(codes.T) if len(codes) > 1 else torch.zeros(size, size, dtype=codes.dtype)
    spread = float(covariance.diagonal().mean())
    if not spread > 1e-12:
        return codes.mean(0).float(), torch.zeros(size, size)
    inverse = torch.linalg.inv(covariance + 1e-6 * spread * torch.eye(size, dtype=codes.dtype))
    return codes.mean(0).float(), inverse.float()


def fit_codes(model, planes, coefficients, targets, masks, region, steps=FIT_STEPS, lr=FIT_LR, batch=FIT_BATCH,
              prior=FIT_PRIOR, log=None):
    """Codes [N, D] (float32 numpy) of frames given as planes [N, C, R, R], coefficients [N, c],
    targets [N, 3, R, R] in [-1, 1], masks [N, 1, R, R] (numpy float32), fitted on the pixels
    where ``masks * region`` > 0.5 (``region`` [R, R]). ``model``: a ConditionalModel with
    appearance codes, eval mode; its weights are not changed."""
    import torch

    if model.appearance is None:
        raise ValueError("fit_codes needs a model with appearance codes")
    device = next(model.parameters()).device
    mean, inverse = (t.to(device) for t in code_prior(model.appearance.codes.weight))
    weights = (torch.from_numpy(masks).to(device) * torch.from_numpy(region).to(device)[None, None] > 0.5).float()
    out = []
    for start in range(0, len(planes), batch):
        chunk = slice(start, start + batch)
        p, c = torch.from_numpy(planes[chunk]).to(device), torch.from_numpy(coefficients[chunk]).to(device)
        t, w = torch.from_numpy(targets[chunk]).to(device), weights[chunk]
        z = torch.zeros([len(p), model.z_dim], device=device)
        code = mean[None].repeat(len(p), 1).clone().requires_grad_(True)
        optimiser = torch.optim.Adam([code], lr=lr)
        for _ in range(steps):
            image = model(p, c, z, appearance=code)
            loss = ((image - t).abs() * w).sum() / w.sum().clamp(min=1.0)
            if prior:
                away = code - mean
                loss = loss + prior * ((away @ inverse) * away).sum(1).mean() / away.shape[1]
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        out.append(code.detach().cpu().numpy())
        if log:
            log(f"appearance fit: frames {start + 1}-{start + len(p)} of {len(planes)}, L1 on the fit half {float(loss.detach()):.4f}")
    return np.concatenate(out)


def render_with_codes(model, planes, coefficients, codes, batch=FIT_BATCH):
    """RGBA uint8 [N, R, R, 4] of the frames rendered with ``codes`` [N, D] (``model.rgba``:
    straight colour, alpha = the mask; quantised as the worker's 8-bit PNGs)."""
    import torch

    device = next(model.parameters()).device
    images = []
    for start in range(0, len(planes), batch):
        chunk = slice(start, start + batch)
        p = torch.from_numpy(planes[chunk]).to(device)
        z = torch.zeros([len(p), model.z_dim], device=device)
        rgba = model.rgba(p, torch.from_numpy(coefficients[chunk]).to(device), z, appearance=torch.from_numpy(codes[chunk]).to(device))
        images.append(np.rint(rgba.permute(0, 2, 3, 1).cpu().numpy() * 255.0).astype(np.uint8))
    return np.concatenate(images)


def half_psnr(images, targets, masks, region):
    """Mean PSNR in dB of the colour of uint8 images [N, R, R, 3 or 4] against targets [N, R, R, 3]
    over the pixels where mask [N, R, R] > 0.5 and region [R, R] > 0.5 (one figure per frame, averaged)."""
    from .metrics import masked_psnr

    values = [masked_psnr(i[..., :3].transpose(2, 0, 1) / 255.0, t.transpose(2, 0, 1) / 255.0, m * region)
              for i, t, m in zip(images, targets, masks)]
    return float(np.mean(values))
