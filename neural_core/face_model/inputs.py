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

Coefficients: :func:`coefficient_vector` reorders a frame's coefficients by name;
:func:`check_coefficients` says, once per job, which of the model's coefficients the shot
cannot drive (docs/rigs.md, "When the rig and the model disagree").
"""

import re
from dataclasses import dataclass

import numpy as np

from ..contract.errors import NeuralFaceError, ShotFormatError

DEPTH_CLIP = 4.0  # relative depth planes are clipped to +-DEPTH_CLIP


def pass_planes(passes: dict, encoder_config, frame=None) -> np.ndarray:
    """Planes [C, H, W] float32 (C = ``encoder_config.in_planes``) from canonical passes."""
    missing = [n for n in encoder_config.read_passes() if n not in passes]
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


IDENTITY_NAME = re.compile(r"^id_\d+$")  # identity coefficients: 0 = the model's average face


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def _runs(names) -> list:
    """Names with runs of consecutive numbers folded: ``Exp000 .. Exp019`` -> ``"Exp000..Exp019"``."""
    runs = []  # [first, last, prefix, digits, number of last] per run
    for name in names:
        m = _NUMBERED.match(name)
        step = [m.group(1), len(m.group(2)), int(m.group(2))] if m else [None, None, None]
        if m and runs and runs[-1][2:] == [step[0], step[1], step[2] - 1]:
            runs[-1][1], runs[-1][4] = name, step[2]
        else:
            runs.append([name, name, *step])
    return [first if first == last else f"{first}..{last}" for first, last, *_ in runs]


def _listing(names, limit=10) -> str:
    names = _runs(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _needs(names) -> str:
    """Expression names listed first, then the identity names (many and alike)."""
    expression = [n for n in names if not IDENTITY_NAME.match(n)]
    identity = [n for n in names if IDENTITY_NAME.match(n)]
    return "; ".join([_listing(expression)] * bool(expression) + [f"identity {_listing(identity)}"] * bool(identity))


@dataclass
class CoefficientCoverage:
    """How a shot's coefficient names meet a model's (each list in its own file's order)."""

    driven: list  # model coefficients the shot has values for
    missing: list  # model coefficients the shot lacks: 0 in every frame
    unused: list  # shot coefficients the model does not read

    @property
    def missing_expression(self) -> list:
        """``missing`` without the identity coefficients (``id_NN``), whose 0 is the
        model's average face rather than a frozen expression."""
        return [name for name in self.missing if not IDENTITY_NAME.match(name)]


def coefficient_coverage(shot_names, model_names) -> CoefficientCoverage:
    shot_set, model_set = set(shot_names), set(model_names)
    return CoefficientCoverage(driven=[n for n in model_names if n in shot_set],
                               missing=[n for n in model_names if n not in shot_set],
                               unused=[n for n in shot_names if n not in model_set])


_RETARGET = ("export the shot again with rig profile 'custom' and a rig map from your shape keys to "
             "these names (docs/rigs.md)")


def check_coefficients(shot_names, model_names, profile="?") -> list:
    """The warnings (0 or 1 message) for driving a model that reads ``model_names`` with
    a shot (rig profile ``profile``) that has ``shot_names``.

    Raises NeuralFaceError when the shot drives none of them (the model would render its
    neutral face for every frame). A model with no coefficients (an unconditional
    generator) accepts any shot. Missing identity coefficients alone are no warning.
    """
    model_names = list(model_names)
    if not model_names:
        return []
    coverage = coefficient_coverage(list(shot_names), model_names)
    if not coverage.driven:
        has = _listing(coverage.unused) if coverage.unused else "none"
        raise NeuralFaceError(
            f"the model reads none of the shot's coefficients (rig profile '{profile}'), so every frame "
            f"would be its neutral face: the model needs {_needs(coverage.missing)}; the shot has {has}. "
            f"To retarget, {_RETARGET}")
    missing = coverage.missing_expression
    if not missing:
        return []
    expression = sum(1 for name in model_names if not IDENTITY_NAME.match(name))
    message = (f"the shot (rig profile '{profile}') has no values for {len(missing)} of the model's "
               f"{expression} expression coefficients, held at 0 (neutral) in every frame: {_listing(missing)}")
    if coverage.unused:
        message += f"; the model ignores the shot's {_listing(coverage.unused)}"
    return [message + f". To drive them, {_RETARGET}"]
