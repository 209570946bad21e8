"""Identity shape keys ``id_00``.. (pure numpy): who the head is, not what it does.

Each key is a smooth displacement field [N, 3] (metres at value 1.0) built from Gaussian
bumps and bands around landmark regions. ``id_00``..``id_23`` are mirror-symmetric;
the last four are deliberately asymmetric (real faces are not symmetric).
"""

import numpy as np

from . import canonical as C
from . import fields as F

LM = F.LM


def _sym_x(points, weight, amount, at=0.05):
    """Symmetric widening: points at |x| = ``at`` move outwards by ``amount`` x weight;
    the move grows smoothly (tanh) from 0 on the mid-plane."""
    d = np.zeros_like(points)
    d[:, 0] = np.tanh(points[:, 0] / at) / np.tanh(1.0) * amount * weight
    return d


def _sym_gauss(points, landmark, sigma):
    """Gaussian bump [N] around a left landmark and its mirror twin."""
    p = LM[landmark]
    return F.gauss(points, p, sigma) + F.gauss(points, p * F.MIRROR, sigma)


def _move(weight, vector):
    return weight[:, None] * np.asarray(vector, dtype=np.float64)


def face_width(p):
    return _sym_x(p, F.front_only(p) * F.band(p[:, 2], 0.10, 0.14), 0.006, at=0.07)


def face_length(p):
    w = F.band(p[:, 2], 0.24, 0.20) * F.band(p[:, 2], 0.06, 0.11) * F.front_only(p)
    return _move(w, (0, 0, -0.007))


def jaw_width(p):
    return _sym_x(p, _sym_gauss(p, C.JAW_ANGLE_LEFT, 0.022), 0.006, at=0.06)


def jaw_drop(p):
    return _move(_sym_gauss(p, C.JAW_ANGLE_LEFT, 0.02), (0, 0, -0.005))


def chin_length(p):
    return _move(F.gauss(p, LM[C.CHIN], 0.018), (0, 0, -0.007))


def chin_forward(p):
    return _move(F.gauss(p, LM[C.CHIN_FRONT], 0.016), (0, -0.006, 0))


def chin_width(p):
    return _sym_x(p, F.gauss(p, LM[C.CHIN_FRONT], [0.025, 0.02, 0.015]), 0.004, at=0.02)


def cheekbones(p):
    w = _sym_gauss(p, C.CHEEK_LEFT, 0.016)
    return _sym_x(p, w, 0.004, at=0.048) + _move(w, (0, -0.003, 0))


def cheek_fullness(p):
    w = _sym_gauss(p, 425, 0.018)  # mid-cheek, beside the mouth
    return _sym_x(p, w, 0.004, at=0.038) + _move(w, (0, -0.004, 0))


def nose_length(p):
    return _move(F.gauss(p, LM[C.NOSE_TIP], 0.012), (0, -0.003, -0.004))


def nose_width(p):
    return _sym_x(p, _sym_gauss(p, C.NOSE_ALA_LEFT, 0.008), 0.003, at=0.014)


def nose_bridge(p):
    w = F.gauss(p, (LM[C.NOSE_BRIDGE] + LM[C.NOSE_TIP]) / 2, [0.008, 0.02, 0.016])
    return _move(w, (0, -0.004, 0))


def nose_tip_up(p):
    return _move(F.gauss(p, LM[C.NOSE_TIP], 0.009), (0, 0.001, 0.003))


def _eye_region(p):
    return _sym_gauss(p, 374, [0.016, 0.02, 0.012])  # 374: middle of the left lower lid


def eye_spacing(p):
    return _sym_x(p, _eye_region(p), 0.003, at=0.03)


def eye_size(p):
    d = np.zeros_like(p)
    for mirror in (np.ones(3), F.MIRROR):  # each eye scales about its own centre
        weight = F.gauss(p, LM[374] * mirror, [0.016, 0.02, 0.012])
        local = p - F.EYE_CENTRE_L * mirror
        local[:, 1] = 0.0
        d += 0.09 * weight[:, None] * local
    return d


def eye_height(p):
    return _move(_eye_region(p), (0, 0, 0.003))


def _brows(p):
    return _sym_gauss(p, 334, [0.022, 0.02, 0.01])  # 334: middle of the left brow


def brow_height(p):
    return _move(_brows(p), (0, 0, 0.004))


def brow_ridge(p):
    return _move(_brows(p), (0, -0.003, 0))


def _lip(p, lower):
    split = F.mouth_split(p)
    return F.mouth_area(p, 0.8) * (split if lower else 1 - split)


def lip_fullness_upper(p):
    return _move(_lip(p, False), (0, -0.0025, 0.001))


def lip_fullness_lower(p):
    return _move(_lip(p, True), (0, -0.0025, -0.001))


def mouth_width(p):
    return _sym_x(p, _sym_gauss(p, C.MOUTH_CORNER_LEFT, 0.012), 0.003, at=0.025)


def forehead_height(p):
    w = F.band(p[:, 2], 0.25, 0.29) * F.front_only(p)
    return _move(w, (0, 0, 0.006))


def forehead_slope(p):
    w = F.gauss(p, LM[C.FOREHEAD], [0.05, 0.04, 0.03])
    return _move(w, (0, 0.006, 0))


def skull_length(p):
    w = F.band(p[:, 1], 0.04, 0.12) * F.band(p[:, 2], 0.14, 0.2)
    return _move(w, (0, 0.008, 0))


def asym_jaw(p):
    w = F.gauss(p, LM[C.CHIN_FRONT] + [0, 0.02, 0], [0.05, 0.04, 0.03]) * F.front_only(p)
    return _move(w, (0.004, 0, 0))


def asym_nose(p):
    return _move(F.gauss(p, LM[C.NOSE_TIP], 0.014), (0.003, 0, 0))


def asym_eye(p):
    return _move(F.gauss(p, LM[374], [0.016, 0.02, 0.012]), (0, 0, 0.0025))


def asym_brow(p):
    return _move(F.gauss(p, LM[334], [0.022, 0.02, 0.01]), (0, 0, 0.004))


IDENTITY = (  # (what it changes, field); key i is named id_{i:02d}
    ("face width", face_width),
    ("face length", face_length),
    ("jaw width", jaw_width),
    ("jaw angle height", jaw_drop),
    ("chin length", chin_length),
    ("chin forward", chin_forward),
    ("chin width", chin_width),
    ("cheekbones", cheekbones),
    ("cheek fullness", cheek_fullness),
    ("nose length", nose_length),
    ("nose width", nose_width),
    ("nose bridge", nose_bridge),
    ("nose tip up", nose_tip_up),
    ("eye spacing", eye_spacing),
    ("eye size", eye_size),
    ("eye height", eye_height),
    ("brow height", brow_height),
    ("brow ridge", brow_ridge),
    ("upper lip fullness", lip_fullness_upper),
    ("lower lip fullness", lip_fullness_lower),
    ("mouth width", mouth_width),
    ("forehead height", forehead_height),
    ("forehead slope", forehead_slope),
    ("skull length", skull_length),
    ("asymmetric jaw shift", asym_jaw),
    ("asymmetric nose tip", asym_nose),
    ("asymmetric eye height", asym_eye),
    ("asymmetric brow height", asym_brow),
)
EYE_SIZE_KEY = "id_14"  # the eyeballs scale by 1 + EYE_SIZE_SCALE x its value
EYE_SIZE_SCALE = 0.09
SYMMETRIC_COUNT = 24  # id_00..id_23 are mirror-symmetric


def identity_names():
    return tuple(f"id_{i:02d}" for i in range(len(IDENTITY)))


def identity_deltas(points):
    """{key name: [N, 3] displacement at value 1.0} for every identity key."""
    return {name: field(points) for name, (_, field) in zip(identity_names(), IDENTITY)}
