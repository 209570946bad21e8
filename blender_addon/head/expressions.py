"""The 52 ARKit expression shape keys (pure numpy), each a displacement field [N, 3].

Left keys act on the head's own left (+X); each Right key is the exact mirror of its
Left twin (``fields.mirrored``). Values are metres at key value 1.0. The eyeballs are
separate objects turned by the eye bones, so the eyeLook* keys only move the lids the
way lids follow a gaze.
"""

import numpy as np

from . import canonical as C
from . import fields as F

LM = F.LM


def _move(weight, vector):
    return weight[:, None] * np.asarray(vector, dtype=np.float64)


def _lids(p, upper, lower):
    """Upper lid moves ``upper`` and lower lid ``lower`` times the lid gap vector."""
    gap = F.lid_gap_l(p)
    return (F.upper_lid_l(p) * upper)[:, None] * gap - (F.lower_lid_l(p) * lower)[:, None] * gap


def eye_blink_l(p):
    return _lids(p, 1.0, 0.0)


def eye_squint_l(p):
    return _lids(p, 0.12, 0.35) + _move(F.gauss(p, LM[C.CHEEK_LEFT], 0.014), (0, -0.001, 0.002))


def eye_wide_l(p):
    return _lids(p, -0.5, -0.1)


def eye_look_down_l(p):
    return _lids(p, 0.3, -0.2)


def eye_look_up_l(p):
    return _lids(p, -0.3, 0.15)


def _lid_shift(p, dx):
    return _move(F.upper_lid_l(p) + F.lower_lid_l(p), (dx, 0, 0))


def eye_look_in_l(p):
    return _lid_shift(p, -0.0015)  # towards the nose


def eye_look_out_l(p):
    return _lid_shift(p, 0.0015)


def _brow_l(p, landmark, sigma):
    above = F.band(p[:, 2] - F.along(p, F.UPPER_LID_L)[:, 2], 0.0, 0.008)
    return F.gauss(p, LM[landmark], sigma) * above


def brow_down_l(p):
    return _move(_brow_l(p, 334, [0.02, 0.02, 0.012]), (-0.002, -0.001, -0.005))


def brow_outer_up_l(p):
    return _move(_brow_l(p, 300, [0.014, 0.02, 0.014]), (0, 0, 0.007))


def brow_inner_up(p):
    w = _brow_l(p, 336, [0.012, 0.02, 0.014]) + _brow_l(p * F.MIRROR, 336, [0.012, 0.02, 0.014])
    return _move(w, (0, 0, 0.007))


def jaw_open(p):
    w = F.jaw_weight(p)
    return w[:, None] * (F.rotate_x(p, F.JAW_PIVOT, F.JAW_OPEN_ANGLE) - p)


def jaw_forward(p):
    return _move(F.jaw_weight(p), (0, -0.006, 0))


def jaw_left(p):
    return _move(F.jaw_weight(p), (0.006, 0, 0))


def _upper_lip(p, scale=1.0):
    return F.mouth_area(p, scale) * (1 - F.mouth_split(p))


def _lower_lip(p, scale=1.0):
    return F.mouth_area(p, scale) * F.mouth_split(p)


def _side_l(p):
    """Smooth 0 -> 1 from the right to the left of the mid-line."""
    return F.band(p[:, 0], -0.012, 0.012)


def mouth_close(p):
    return _move(_lower_lip(p, 0.8), (0, 0, 0.003)) + _move(_upper_lip(p, 0.8), (0, 0, -0.002))


def _towards_centre(p, weight, fraction):
    d = np.zeros_like(p)
    d[:, 0] = -p[:, 0] * fraction * weight
    return d


def mouth_funnel(p):
    w = F.mouth_area(p, 0.9)
    return _move(w, (0, -0.006, 0)) + _towards_centre(p, w, 0.25) + _move(
        _lower_lip(p, 0.8), (0, 0, -0.002)) + _move(_upper_lip(p, 0.8), (0, 0, 0.002))


def mouth_pucker(p):
    w = F.mouth_area(p, 0.9)
    return _move(w, (0, -0.008, 0)) + _towards_centre(p, w, 0.4)


def mouth_left(p):
    return _move(F.mouth_area(p, 1.1), (0.008, 0, 0))


def mouth_smile_l(p):
    return _move(F.corner_l(p, 0.012), (0.005, 0.002, 0.007)) + _move(
        F.gauss(p, LM[C.CHEEK_LEFT], 0.016), (0.0, -0.001, 0.002))


def mouth_frown_l(p):
    return _move(F.corner_l(p, 0.012), (0.001, 0, -0.006))


def mouth_dimple_l(p):
    return _move(F.corner_l(p, 0.01), (0.003, 0.004, 0))


def mouth_stretch_l(p):
    return _move(F.corner_l(p, 0.013), (0.007, 0.001, -0.003))


def mouth_roll_lower(p):
    return _move(_lower_lip(p, 0.7), (0, 0.004, 0.002))


def mouth_roll_upper(p):
    return _move(_upper_lip(p, 0.7), (0, 0.004, -0.002))


def mouth_shrug_lower(p):
    return _move(_lower_lip(p, 1.1), (0, -0.001, 0.004))


def mouth_shrug_upper(p):
    return _move(_upper_lip(p, 0.9), (0, -0.001, 0.003))


def mouth_press_l(p):
    side = _side_l(p)
    return _move(_upper_lip(p, 0.8) * side, (0, 0, -0.0015)) + _move(
        _lower_lip(p, 0.8) * side, (0, 0, 0.0015))


def mouth_lower_down_l(p):
    return _move(_lower_lip(p, 0.9) * _side_l(p), (0, 0, -0.006))


def mouth_upper_up_l(p):
    return _move(_upper_lip(p, 0.9) * _side_l(p), (0, 0, 0.005))


def cheek_puff(p):
    folded = p.copy()
    folded[:, 0] = np.abs(p[:, 0])  # both cheeks at once
    w = F.gauss(folded, LM[425] + [0.006, 0.006, -0.004], 0.018)
    return _move(w, (0, -0.004, 0)) + np.stack([np.sign(p[:, 0]) * w * 0.008,
                                               np.zeros(len(p)), np.zeros(len(p))], 1)


def cheek_squint_l(p):
    return _move(F.gauss(p, LM[C.CHEEK_LEFT] + [0, 0, 0.008], 0.014), (0, -0.001, 0.004))


def nose_sneer_l(p):
    return _move(F.gauss(p, LM[C.NOSE_ALA_LEFT] + [0, 0, 0.004], 0.009), (0, -0.001, 0.004))


def tongue_out(p, mouth_part):
    """The floor of the mouth bag slides out between the lips; the lower lip drops."""
    opening = (LM[C.UPPER_LIP_INNER] + LM[C.LOWER_LIP_INNER]) / 2
    floor = F.band(opening[2] - p[:, 2], -0.001, 0.004) * mouth_part
    depth = 1 - F.band(p[:, 1] - opening[1], 0.01, 0.04)
    w = floor * depth
    return _move(w, (0, -0.028, -0.002)) + _move(_lower_lip(p, 0.8), (0, 0, -0.003))


_SIDED = {  # ARKit stem -> Left field; "<stem>Right" is its mirror
    "eyeBlink": eye_blink_l, "eyeLookDown": eye_look_down_l, "eyeLookIn": eye_look_in_l,
    "eyeLookOut": eye_look_out_l, "eyeLookUp": eye_look_up_l, "eyeSquint": eye_squint_l,
    "eyeWide": eye_wide_l, "mouthSmile": mouth_smile_l, "mouthFrown": mouth_frown_l,
    "mouthDimple": mouth_dimple_l, "mouthStretch": mouth_stretch_l,
    "mouthPress": mouth_press_l, "mouthLowerDown": mouth_lower_down_l,
    "mouthUpperUp": mouth_upper_up_l, "browOuterUp": brow_outer_up_l,
    "browDown": brow_down_l, "cheekSquint": cheek_squint_l, "noseSneer": nose_sneer_l,
}
_SINGLE = {
    "jawForward": jaw_forward, "jawLeft": jaw_left, "jawRight": F.mirrored(jaw_left),
    "jawOpen": jaw_open, "mouthClose": mouth_close, "mouthFunnel": mouth_funnel,
    "mouthPucker": mouth_pucker, "mouthLeft": mouth_left,
    "mouthRight": F.mirrored(mouth_left), "mouthRollLower": mouth_roll_lower,
    "mouthRollUpper": mouth_roll_upper, "mouthShrugLower": mouth_shrug_lower,
    "mouthShrugUpper": mouth_shrug_upper, "browInnerUp": brow_inner_up,
    "cheekPuff": cheek_puff,
}


def expression_field(name):
    """The field for one ARKit name (``tongueOut`` excluded: it needs the mouth part)."""
    if name in _SINGLE:
        return _SINGLE[name]
    for stem, field in _SIDED.items():
        if name == stem + "Left":
            return field
        if name == stem + "Right":
            return F.mirrored(field)
    raise KeyError(name)


def expression_deltas(points, names, mouth_part):
    """{ARKit name: [N, 3] displacement at value 1.0}, for ``names`` in order.

    mouth_part: [N] 1.0 on the vertices of the mouth bag, else 0.0.
    """
    out = {}
    for name in names:
        if name == "tongueOut":
            out[name] = tongue_out(points, mouth_part)
        else:
            out[name] = expression_field(name)(points)
    return out
