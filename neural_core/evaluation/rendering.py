"""A model's frames for the evaluation: shot folder -> model inputs -> RGBA -> PNGs.

torch is imported on first use (by :func:`render`), not with this module.
"""

from pathlib import Path

import numpy as np


def load_frames(shot_folder, model, frames=None):
    """Model inputs of a shot folder's frames (all, or those numbered in ``frames``).

    Returns (planes [N, C, R, R] float32, coefficients [N, c] float32 in the model's
    order, masks [N, R, R] float32, the FrameRecords, the Shot).
    """
    from ..contract.shot import read_shot
    from ..contract.shot.passes import read_passes
    from ..face_model.inputs import coefficient_vector, pass_planes

    shot = read_shot(shot_folder, check_passes=False)
    names = model.config.encoder.read_passes()
    planes, coefficients, masks, records = [], [], [], []
    for record in shot.frames:
        if frames is not None and record.frame not in frames:
            continue
        passes = read_passes(shot, record.frame, shot_folder, names=names)
        planes.append(pass_planes(passes, model.config.encoder, frame=record.frame))
        coefficients.append(coefficient_vector(shot.coefficient_names, record.coefficients, model.config.coefficient_names))
        masks.append(passes["mask"])
        records.append(record)
    return np.stack(planes), np.stack(coefficients), np.stack(masks), records, shot


def render(model, planes, coefficients, z, batch=8):
    """RGBA [N, 4, R, R] float32 in [0, 1] of the model for planes [N, C, R, R] and
    coefficients [N, c]; ``z`` is one appearance latent [z_dim] for all frames or one per
    frame [N, z_dim]."""
    import torch

    out = []
    for i in range(0, len(planes), batch):
        p = torch.from_numpy(planes[i : i + batch])
        c = torch.from_numpy(coefficients[i : i + batch])
        if z.ndim == 1:
            zz = torch.from_numpy(np.broadcast_to(z, (len(p), model.z_dim)).copy())
        else:
            zz = torch.from_numpy(z[i : i + batch])
        out.append(model.rgba(p, c, zz.float()).numpy())
    return np.concatenate(out)


def on_grey(rgba):
    """RGBA [N, 4, H, W] in [0, 1] -> uint8 [N, H, W, 3] composited over mid grey."""
    rgb = rgba[:, :3] * rgba[:, 3:] + 0.5 * (1 - rgba[:, 3:])
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)


def save_pngs(images, folder, prefix):
    """uint8 images [N, H, W, 3] -> ``folder/<prefix>_0000.png``..."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{prefix}_{i:04d}.png")


def read_target(path):
    """A target PNG as float32 [3, H, W] in [0, 1] (sRGB)."""
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), np.float32).transpose(2, 0, 1) / 255
