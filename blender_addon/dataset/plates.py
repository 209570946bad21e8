"""Background plates behind the synthetic actor (numpy + Pillow, no Blender).

A plate is an sRGB uint8 image [H, W, 3] drawn from ``(kind, seed)``: a soft two-colour
gradient, out-of-focus "bokeh" blobs, a room-like wall/floor with a bright window, blurred
stripes (shelves, blinds), or a flat colour with mild texture. Every plate is blurred a
little, as a background behind a face is in a photo. :func:`composite` puts a straight-
alpha RGBA render over a plate.
"""

import colorsys

import numpy as np

KINDS = ("gradient", "bokeh", "room", "stripes", "flat")


def _colour(rng, value=None, saturation=None):
    """An sRGB colour [3] in [0, 1]: any hue, mostly muted."""
    v = rng.uniform(0.15, 0.9) if value is None else value
    s = rng.uniform(0.05, 0.5) if saturation is None else saturation
    return np.array(colorsys.hsv_to_rgb(rng.random(), s, v))


def _blur(image, radius):
    from PIL import Image, ImageFilter

    pil = Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
    return np.asarray(pil.filter(ImageFilter.GaussianBlur(radius)), np.float64) / 255


def make_plate(kind, seed, size):
    """uint8 [size, size, 3] plate of ``kind`` (one of KINDS) for ``seed``."""
    if kind not in KINDS:
        raise ValueError(f"unknown plate kind {kind!r} (one of {', '.join(KINDS)})")
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size  # [0, 1) down, right
    if kind == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        t = np.clip(0.5 + (np.cos(angle) * (x - 0.5) + np.sin(angle) * (y - 0.5)), 0, 1)[..., None]
        image = _colour(rng) * (1 - t) + _colour(rng) * t
    elif kind == "bokeh":
        image = np.broadcast_to(_colour(rng, value=rng.uniform(0.1, 0.4)), (size, size, 3)).copy()
        for _ in range(rng.integers(8, 25)):
            cx, cy, r = rng.random(), rng.random(), rng.uniform(0.03, 0.12)
            disc = np.clip((r - np.hypot(x - cx, y - cy)) / (0.15 * r), 0, 1)[..., None]
            image = image + disc * _colour(rng, value=rng.uniform(0.5, 1.0)) * rng.uniform(0.2, 0.6)
    elif kind == "room":
        horizon = rng.uniform(0.6, 0.85)
        wall, floor = _colour(rng, saturation=rng.uniform(0.02, 0.25)), _colour(rng, value=rng.uniform(0.1, 0.5))
        image = np.where((y < horizon)[..., None], wall, floor)
        left, top = rng.uniform(0.0, 0.7), rng.uniform(0.05, 0.3)
        window = (x > left) & (x < left + rng.uniform(0.15, 0.3)) & (y > top) & (y < top + rng.uniform(0.2, 0.4))
        image = np.where(window[..., None], np.minimum(1.0, wall * 0.3 + 0.8), image)
        image = image * (0.8 + 0.2 * (1 - np.abs(x - 0.5)))[..., None]  # light falls off to the sides
    elif kind == "stripes":
        period, phase = rng.uniform(0.05, 0.25), rng.random()
        a, b = _colour(rng), _colour(rng)
        vertical = rng.random() < 0.5
        t = (np.sin(2 * np.pi * ((x if vertical else y) / period + phase)) > 0)[..., None]
        image = np.where(t, a, b)
    else:  # flat
        image = np.broadcast_to(_colour(rng), (size, size, 3)).copy()
    texture = _blur(rng.normal(0.5, 0.25, (size, size, 1)).repeat(3, -1), size / 64) - 0.5
    image = np.clip(image + 0.08 * texture, 0, 1)
    image = _blur(image, rng.uniform(1.0, 4.0) * size / 256)  # out of focus
    return (image * 255 + 0.5).astype(np.uint8)


def composite(rgba, plate):
    """Straight-alpha RGBA uint8 [H, W, 4] over a plate uint8 [H, W, 3] -> uint8 [H, W, 3]."""
    alpha = rgba[..., 3:].astype(np.float64) / 255
    out = rgba[..., :3].astype(np.float64) * alpha + plate.astype(np.float64) * (1 - alpha)
    return (out + 0.5).astype(np.uint8)
