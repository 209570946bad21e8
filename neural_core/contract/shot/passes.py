"""Canonical passes from the multilayer EXRs Blender 4.5 / 5.0 wrote into a shot folder.

What Blender writes (measured with Cycles on 4.5.15 and 5.0.1, see docs/shot-format.md,
"Pass layers in the EXR files"):

- layers ``<ViewLayer>.Depth`` (Z), ``.Normal`` (X, Y, Z), ``.DiffCol`` / 5.0
  ``.Diffuse Color`` (R, G, B), ``.IndexOB`` / 5.0 ``.Object Index`` (X), ``.IndexMA`` /
  5.0 ``.Material Index`` (X); 4.5 writes one part, 5.0 one part per layer.
- Depth is planar (metres along the camera's view axis), background 1e10.
- Normal is in world space (Blender axes); background 0.

:func:`read_passes` returns, per canonical name (all float32, row 0 = top of image):

- ``depth`` [H, W]: metres along +Z of the OpenCV camera; background +inf.
- ``normal`` [H, W, 3]: unit vectors in OpenCV camera space; background 0.
- ``albedo`` [H, W, 3]: linear RGB reflectance.
- ``mask`` [H, W]: 0..1 head coverage (from the object index pass when the shot's
  ``render["mask_pass_index"]`` says which index is the head).
- ``regions`` [H, W]: Blender's Material Index pass, i.e. the *material's* Pass Index
  (the bundled head sets it to region id + 1), on the head; -1 elsewhere (when the
  shot has a mask).
"""

from pathlib import Path

import numpy as np

from ..errors import ShotFormatError
from . import exr
from .folder import read_shot
from .model import Shot, pass_path

# Depth values at or beyond this are "nothing hit" (Cycles writes 1e10).
BACKGROUND_DEPTH = 1e9

# Canonical pass -> layer names Blender uses for it (4.5 first, then 5.0).
BLENDER_LAYERS = {
    "depth": ("Depth",),
    "normal": ("Normal",),
    "albedo": ("DiffCol", "Diffuse Color"),
    "mask": ("IndexOB", "Object Index"),
    "regions": ("IndexMA", "Material Index"),
}


def read_passes(shot, frame, folder=None, *, names=None):
    """Canonical passes of one frame.

    ``shot``: a shot folder (path) or a parsed :class:`Shot` (then ``folder`` is the
    folder it came from). ``frame``: Blender frame number. ``names``: canonical passes to
    return (default: every pass the shot has). Raises ShotFormatError naming the file and
    frame when the shot has no such frame or pass, or the EXR lacks a channel.
    """
    if isinstance(shot, Shot):
        if folder is None:
            raise ShotFormatError("read_passes(Shot, frame) also needs the shot folder",
                                  frame=frame)
    else:
        folder = shot
        shot = read_shot(folder, check_passes=False)
    record = shot.frame(frame)
    wanted = list(shot.passes) if names is None else list(names)
    for name in wanted:
        if name not in shot.passes:
            raise ShotFormatError(
                f"the shot has no '{name}' pass (it has {sorted(shot.passes) or 'none'})",
                file=Path(folder) / "shot.json", frame=frame, field="passes")
    path = pass_path(folder, frame, shot.passes_folder)
    needed = set(wanted) | ({"mask"} if "mask" in shot.passes else set())
    try:
        channels = exr.read_exr_channels(path, [c for n in sorted(needed) for c in shot.passes[n].channel_names()])
    except ShotFormatError as error:  # the EXR layer knows the file; say which frame it is
        raise ShotFormatError(error.reason, file=path, frame=frame, field="passes") from error
    return canonical_passes(channels, shot, record, wanted, file=path)


def _planes(channels, info, name, file, frame):
    """A pass's channels -> list of float32 [H, W]."""
    arrays = []
    for full in info.channel_names():
        if full not in channels:
            raise ShotFormatError(f"channel '{full}' of pass '{name}' is missing",
                                  file=file, frame=frame, field=f"passes.{name}")
        arrays.append(np.asarray(channels[full], dtype=np.float32))
    return arrays


def _layer(channels, info, name, file, frame):
    """Stack a pass's channels -> [H, W, C] float32."""
    arrays = _planes(channels, info, name, file, frame)
    return arrays[0][..., None] if len(arrays) == 1 else np.stack(arrays, axis=-1)


def canonical_passes(channels, shot, record, names, file=None):
    """Convert raw EXR channels ``{full name: [H, W]}`` of one frame to canonical passes.

    ``shot``: the Shot (its ``passes`` and ``render`` facts); ``record``: the frame's
    FrameRecord (its ``K`` and ``world_to_camera``); ``names``: canonical passes wanted.
    """
    frame = record.frame
    out = {}
    raw = {n: (_planes if n == "normal" else _layer)(channels, shot.passes[n], n, file, frame) for n in names}
    mask = None
    if "mask" in shot.passes:
        source = raw.get("mask")
        if source is None:
            source = _layer(channels, shot.passes["mask"], "mask", file, frame)
        mask = mask_from_pass(source[..., 0], shot.render.get("mask_pass_index"))
    for name in names:
        values = raw[name]
        info = shot.passes[name]
        if name == "depth":
            out[name] = depth_from_pass(values[..., 0], record.K, shot.render.get("depth", "planar"))
        elif name == "normal":
            rotation = record.world_to_camera[:3, :3] if info.space == "world" else None
            out[name] = _normals_from_planes(*values, rotation)
        elif name == "mask":
            out[name] = mask
        elif name == "regions":
            regions = np.rint(values[..., 0]).astype(np.float32)
            out[name] = np.where(mask > 0.5, regions, -1.0).astype(np.float32) if mask is not None else regions
        else:
            out[name] = values if values.shape[-1] > 1 else values[..., 0]
    return out


def depth_from_pass(z, K=None, kind="planar"):
    """Blender Z [H, W] -> planar depth in metres [H, W], background (>= 1e9) = +inf.

    ``kind``: ``"planar"`` (what Cycles writes on 4.5 and 5.0) or ``"radial"`` (distance
    from the camera centre; converted with the intrinsics ``K`` [3, 3] in pixels).
    """
    depth = np.array(z, dtype=np.float32)
    background = ~(depth < BACKGROUND_DEPTH)
    if kind == "radial":
        h, w = depth.shape
        x = (np.arange(w, dtype=np.float64) + 0.5 - K[0, 2]) / K[0, 0]
        y = (np.arange(h, dtype=np.float64) + 0.5 - K[1, 2]) / K[1, 1]
        depth = (depth / np.sqrt(1.0 + x[None, :] ** 2 + y[:, None] ** 2)).astype(np.float32)
    elif kind != "planar":
        raise ShotFormatError(f"unknown depth kind {kind!r} (planar or radial)", field="render.depth")
    depth[background] = np.inf
    return depth


def normals_to_camera(normals, world_to_camera_rotation=None):
    """Normals [H, W, 3] -> unit vectors in OpenCV camera space; zero stays zero.

    ``world_to_camera_rotation``: [3, 3] when the file holds world-space normals, None
    when they already are in camera space. float32 throughout (errors ~1e-7).
    """
    n = np.asarray(normals, dtype=np.float32)
    return _normals_from_planes(n[..., 0], n[..., 1], n[..., 2], world_to_camera_rotation)


def _normals_from_planes(x, y, z, rotation=None):
    """:func:`normals_to_camera` on the three channel planes [H, W] as read: the rotation
    and normalisation run on contiguous planes (half the time of the [H, W, 3] path)."""
    if rotation is not None:
        r = np.asarray(rotation, dtype=np.float32)
        x, y, z = (r[i, 0] * x + r[i, 1] * y + r[i, 2] * z for i in range(3))
    squared = x * x
    squared += y * y
    squared += z * z
    inverse = np.zeros_like(squared)
    valid = squared > np.float32(1e-12)  # background / degenerate normals stay zero
    np.divide(np.float32(1.0), np.sqrt(squared, where=valid, out=np.ones_like(squared)), where=valid, out=inverse)
    out = np.empty(squared.shape + (3,), dtype=np.float32)
    for i, plane in enumerate((x, y, z)):
        np.multiply(plane, inverse, out=out[..., i])
    return out


def mask_from_pass(values, pass_index=None):
    """Head coverage [H, W] in 0..1: ``index == pass_index`` for an object index pass,
    or the values themselves (clipped) when ``pass_index`` is None."""
    values = np.asarray(values, dtype=np.float32)
    if pass_index is None:
        return np.clip(values, 0.0, 1.0)
    return (np.abs(values - float(pass_index)) < 0.5).astype(np.float32)


def layer_name(view_layer, canonical, blender_version):
    """EXR layer name Blender writes for a canonical pass: ``"ViewLayer.DiffCol"`` on 4.x,
    ``"ViewLayer.Diffuse Color"`` on 5.x. ``blender_version``: tuple like (5, 0, 1)."""
    names = BLENDER_LAYERS[canonical]
    name = names[-1] if tuple(blender_version) >= (5, 0) else names[0]
    return f"{view_layer}.{name}"
