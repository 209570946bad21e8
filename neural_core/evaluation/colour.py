"""Colour science for the evaluation (numpy only): sRGB -> CIELAB (D65) and CIEDE2000.

CIEDE2000 follows G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference formula:
implementation notes, supplementary test data, and mathematical observations", Color
Research & Application 30(1), 2005 (hue angles in degrees, kL = kC = kH = 1 by default);
tests/core/test_actor_model_eval.py checks it against that paper's 34 test pairs.
A CIEDE2000 difference of about 1 is a just-noticeable difference; 3 is visible side by side.
"""

import numpy as np

# linear sRGB -> CIE XYZ (D65 white), IEC 61966-2-1
SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])  # XYZ of the reference white (Y = 1)
# degrees: hue differences this close to 180 count as 180 (opposite hues, a case of the formula's
# branches: Sharma's pairs 13-14 sit exactly there and atan2's rounding would pick either side)
HUE_TIE = 1e-9


def srgb_to_linear(values):
    """sRGB-encoded values in [0, 1] (any shape) -> linear light."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def linear_to_lab(rgb):
    """Linear sRGB [..., 3] (white = 1) -> CIELAB [..., 3] (L in 0..100) under D65."""
    xyz = np.asarray(rgb, dtype=np.float64) @ SRGB_TO_XYZ.T / WHITE_D65
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], axis=-1)


def srgb_to_lab(values):
    """sRGB-encoded [..., 3] in [0, 1] -> CIELAB [..., 3] (D65)."""
    return linear_to_lab(srgb_to_linear(values))


def ciede2000(lab1, lab2, kl=1.0, kc=1.0, kh=1.0):
    """CIEDE2000 colour difference of CIELAB colours [..., 3] and [..., 3] (broadcast) -> [...]."""
    lab1, lab2 = np.broadcast_arrays(np.asarray(lab1, dtype=np.float64), np.asarray(lab2, dtype=np.float64))
    l1, a1, b1 = np.moveaxis(lab1, -1, 0)
    l2, a2, b2 = np.moveaxis(lab2, -1, 0)
    c_bar7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0) ** 7
    g = 0.5 * (1.0 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360.0)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360.0)
    chroma_product = c1p * c2p
    dh = h2p - h1p
    dh = np.where(dh > 180.0 + HUE_TIE, dh - 360.0, np.where(dh < -180.0 - HUE_TIE, dh + 360.0, dh))
    dh = np.where(chroma_product == 0, 0.0, dh)
    d_l, d_c = l2 - l1, c2p - c1p
    d_h = 2.0 * np.sqrt(chroma_product) * np.sin(np.radians(dh) / 2.0)
    l_bar, c_bar = (l1 + l2) / 2.0, (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    wrapped = np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0)
    h_bar = np.where(np.abs(h1p - h2p) <= 180.0 + HUE_TIE, h_sum / 2.0, wrapped)
    h_bar = np.where(chroma_product == 0, h_sum, h_bar)
    t = (1.0 - 0.17 * np.cos(np.radians(h_bar - 30.0)) + 0.24 * np.cos(np.radians(2.0 * h_bar))
         + 0.32 * np.cos(np.radians(3.0 * h_bar + 6.0)) - 0.20 * np.cos(np.radians(4.0 * h_bar - 63.0)))
    d_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    r_c = 2.0 * np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7))
    s_l = 1.0 + 0.015 * (l_bar - 50.0) ** 2 / np.sqrt(20.0 + (l_bar - 50.0) ** 2)
    s_c = 1.0 + 0.045 * c_bar
    s_h = 1.0 + 0.015 * c_bar * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c
    lightness, chroma, hue = d_l / (kl * s_l), d_c / (kc * s_c), d_h / (kh * s_h)
    return np.sqrt(lightness**2 + chroma**2 + hue**2 + r_t * chroma * hue)
