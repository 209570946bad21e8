"""Canonical passes -> the pass encoder's input planes (numpy only, no torch).

Input: the dict :func:`neural_core.contract.shot.passes.read_passes` returns for one frame
(depth [H, W] metres, background +inf; normal [H, W, 3] OpenCV camera space; mask
[H, W] 0..1; regions [H, W] material pass index on the head = region id + 1, -1 off
it; albedo [H, W, 3] linear reflectance).

Output planes [C, H, W] float32, in ``EncoderConfig.passes`` order:

- normal: 3 planes, the unit normal (zero off the head);
- depth: 1 plane, (depth - median head depth) / depth_scale clipped to +-4 (zero off the head):
  shape relative to the head, independent of the camera distance;
- mask: 1 plane, 0..1;
- regions: num_regions one-hot planes (region id = value - 1; none off the head);
- albedo: 3 planes, reflectance * 2 - 1 on the head, zero elsewhere.
"""

import numpy as np

from ..contract.errors import ShotFormatError

DEPTH_CLIP = 4.0  # relative depth planes are clipped to +-DEPTH_CLIP


def pass_planes(passes: dict, encoder_config, frame=None) -> np.ndarray:
    """Planes [C, H, W] float32 (C = ``encoder_config.in_planes``) from canonical passes."""
    needed = set(encoder_config.passes) | {"mask"}
    missing = sorted(n for n in needed if n not in passes)
    if missing:
        raise ShotFormatError(f"the model needs the passes {missing}, the shot lacks them", frame=frame, field="passes")
    mask = np.clip(np.asarray(passes["mask"], dtype=np.float32), 0.0, 1.0)
    on_head = mask > 0.5
    planes = []
    for name in encoder_config.passes:
        if name == "normal":
            normal = np.asarray(passes["normal"], dtype=np.float32)
            planes.extend(np.moveaxis(normal * mask[..., None], -1, 0))
        elif name == "depth":
            planes.append(relative_depth(passes["depth"], on_head, encoder_config.depth_scale))
        elif name == "mask":
            planes.append(mask)
        elif name == "regions":
            planes.extend(region_one_hot(passes["regions"], encoder_config.num_regions))
        elif name == "albedo":
            albedo = np.asarray(passes["albedo"], dtype=np.float32)
            planes.extend(np.moveaxis((albedo * 2.0 - 1.0) * mask[..., None], -1, 0))
    return np.stack(planes).astype(np.float32)


def relative_depth(depth, on_head, scale: float) -> np.ndarray:
    """[H, W] (depth - median depth on the head) / scale, clipped; zero off the head."""
    depth = np.asarray(depth, dtype=np.float32)
    valid = on_head & np.isfinite(depth)
    out = np.zeros(depth.shape, dtype=np.float32)
    if valid.any():
        centre = float(np.median(depth[valid]))
        out[valid] = np.clip((depth[valid] - centre) / scale, -DEPTH_CLIP, DEPTH_CLIP)
    return out


def region_one_hot(regions, num_regions: int) -> np.ndarray:
    """[num_regions, H, W] one-hot of region id = value - 1 (values < 1 are background)."""
    ids = np.rint(np.asarray(regions, dtype=np.float32)).astype(np.int64) - 1
    return (ids[None] == np.arange(num_regions)[:, None, None]).astype(np.float32)


def coefficient_vector(names, values, wanted) -> np.ndarray:
    """Reorder one frame's coefficients to the model's ``wanted`` names; absent names are 0."""
    lookup = dict(zip(names, values))
    return np.array([float(lookup.get(name, 0.0)) for name in wanted], dtype=np.float32)
