"""Holding a model's skin colour steady across a shot (``neural_core render --stabilise-colour``).

A conditional model rendered with one look still lets a little colour ride on what the rig
drives: on the synthetic actor its outputs' mean skin colour wandered by up to 6 CIEDE2000
from the shot's median, nearly all of it in a* and b*, not in lightness (docs/actor.md).
The stabiliser removes that drift after synthesis:

1. The *reference*: the median skin chromaticity of a few frames spread evenly over the
   whole shot (``contract.frames.colour_reference_frames``), rendered by the same model.
   Every render of the shot, a farm chunk included, takes the reference from the same
   frames, so chunks match; the first to compute it keeps it in the output folder
   (:func:`shared_reference`), so later chunks neither synthesise those frames again nor
   differ by the few ulp another machine's float results would.
2. Each frame: its mean skin colour (linear light, the regions pass's skin pixels inside
   the mask, ``SKIN_ERODE_PX`` away from other regions and the silhouette) is divided by
   its luminance; each RGB channel of the whole frame is scaled (linear light) by the
   reference's ratio over the frame's, so the mean skin colour takes the reference's
   chromaticity and keeps its own luminance: shading and exposure stay, the colour cast
   goes. Gains are clipped to ``MAX_GAIN`` either way; a frame without skin pixels is left
   as it is.
3. The brightness mode (``--stabilise-brightness``): the skin's mean luminance is moved to
   the reference's median luminance too. On a shot lit the same throughout, the mean skin
   brightness of the footage itself hardly changes (the synthetic actor's 48-frame video:
   an L* SD of 0.6), while an actor model's flickers about three times as much (1.9): this
   removes that flicker, and with it any real change of light, so it is for shots whose
   light does not change.
"""

import json
from pathlib import Path

import numpy as np

from ..contract.atomic import write_atomically
from .images import srgb_to_linear

SKIN = 1  # regions pass value of skin: region id 0 ("skin" in blender_addon/head/mesh.py REGIONS) + 1
SKIN_ERODE_PX = 2  # skin pixels this close to another region or the silhouette are left out (blended edges)
LUMINANCE = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 / sRGB primaries, linear light
MAX_GAIN = 1.25  # a channel is scaled by at most this, or at least its inverse


def linear_to_srgb(values):
    """Linear light -> sRGB-encoded [0, 1] (IEC 61966-2-1), float32; clipped to [0, 1]."""
    values = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    return np.where(values <= 0.0031308, values * 12.92, 1.055 * values ** (1 / 2.4) - 0.055).astype(np.float32)


def skin_pixels(regions, alpha, erode=SKIN_ERODE_PX):
    """bool [H, W]: skin (regions pass) inside the mask (alpha > 0.5), eroded by ``erode`` px."""
    skin = (np.rint(np.asarray(regions)) == SKIN) & (np.asarray(alpha) > 0.5)
    if erode and skin.any():
        from scipy.ndimage import binary_erosion

        skin = binary_erosion(skin, iterations=erode)
    return skin


def skin_colour(rgba, regions, linear=None):
    """[3] mean skin colour (linear light) of an RGBA [H, W, 4] float frame (sRGB, straight
    alpha), or None when it shows no skin. ``linear``: the frame's RGB [H, W, 3] already in
    linear light, when the caller has it."""
    skin = skin_pixels(regions, rgba[..., 3])
    if not skin.any():
        return None
    colours = linear[skin] if linear is not None else srgb_to_linear(rgba[..., :3][skin])
    return colours.astype(np.float64).mean(0)


def skin_chromaticity(rgba, regions, linear=None):
    """[3] mean skin colour over its luminance (:func:`skin_colour`), or None."""
    mean = skin_colour(rgba, regions, linear)
    if mean is None:
        return None
    luminance = float(mean @ LUMINANCE)
    return mean / luminance if luminance > 1e-6 else None


def reference_chromaticity(chromaticities):
    """[3] per-channel median of the sample frames' chromaticities (None ones skipped), or
    None when no sample shows skin."""
    found = [c for c in chromaticities if c is not None]
    return np.median(np.stack(found), axis=0) if found else None


def reference_luminance(colours):
    """Median luminance of the sample frames' mean skin colours [3] (None ones skipped), or None."""
    found = [float(c @ LUMINANCE) for c in colours if c is not None]
    return float(np.median(found)) if found else None


def reference(colours):
    """(chromaticity [3], luminance) of the shot's reference from the sample frames' mean
    skin colours [3] (:func:`skin_colour`; None and black ones skipped), or (None, None)."""
    found = [c for c in colours if c is not None and float(c @ LUMINANCE) > 1e-6]
    return reference_chromaticity([c / float(c @ LUMINANCE) for c in found]), reference_luminance(found)


def stabilise(rgba, regions, reference, luminance=None):
    """``rgba`` [H, W, 4] float (sRGB, straight alpha) with its skin's chromaticity moved to
    ``reference`` [3] (see the module docstring); alpha is kept. ``luminance`` (the
    brightness mode, ``--stabilise-brightness``): the skin's mean luminance is moved to it
    too, instead of being kept."""
    if reference is None:
        return rgba
    linear = srgb_to_linear(rgba[..., :3])  # once: for the skin's mean and for the scaled frame
    mean = skin_colour(rgba, regions, linear)
    own_luminance = None if mean is None else float(mean @ LUMINANCE)
    if own_luminance is None or own_luminance <= 1e-6:
        return rgba
    target = np.asarray(reference) * (own_luminance if luminance is None else luminance)  # mean skin colour wanted
    gain = np.clip(target / np.maximum(mean, 1e-6), 1.0 / MAX_GAIN, MAX_GAIN).astype(np.float32)
    out = np.array(rgba, dtype=np.float32, copy=True)
    out[..., :3] = linear_to_srgb(linear * gain)
    return out


def shared_reference(folder, key, compute):
    """The reference (chromaticity [3] or None, luminance or None) that ``key`` stands for:
    read from ``folder/.colour-reference-<key[:32]>.json`` when an earlier render of the
    same shot wrote it, else ``compute()`` and write it there (atomically). ``key``: a hash
    of everything that decides the reference (model, options, the reference frames'
    coefficients and passes). A record that cannot be read, or a folder that cannot be
    written, only costs the computation."""
    path = Path(folder) / f".colour-reference-{key[:32]}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["key"] == key:
            chromaticity, luminance = record["chromaticity"], record["luminance"]
            return (None if chromaticity is None else np.array(chromaticity, dtype=np.float64),
                    None if luminance is None else float(luminance))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    chromaticity, luminance = compute()
    record = {"key": key, "chromaticity": None if chromaticity is None else [float(v) for v in chromaticity],
              "luminance": None if luminance is None else float(luminance)}
    try:
        write_atomically(path, lambda temporary: Path(temporary).write_text(json.dumps(record) + "\n", encoding="utf-8"))
    except OSError:
        pass
    return chromaticity, luminance
