"""Rig profiles: which shape keys of a rig are which coefficients, and which bones are joints.

Three profiles exist:

- ``arkit52``: the 52 ARKit blendshape names, matched case-insensitively and through the
  usual naming variants (``eyeBlinkLeft``, ``EyeBlinkLeft``, ``eyeBlink_L``, ``eyeBlinkL``,
  ``eye_blink_left``, ``eyeBlink.L``), after a ``namespace:`` / ``Face|`` prefix, and after
  a mesh or blend-shape-node prefix ending in ``.`` or ``_`` (``Face.jawOpen``,
  ``Face_jawOpen``, ``blendShape1.jawOpen``) when the whole name is no ARKit spelling.
  Identity keys named ``id_00``, ``id_01``, ... (the bundled head) come first in the
  coefficient vector.
- ``flame``: FLAME's ``Shape000``... identity and ``Exp000``... expression keys; its
  joints ``neck``, ``jaw`` and the two eyes become pose.
- ``custom``: a JSON object ``{"shape key": "coefficient" | {"name": ..., "scale": ...}}``
  (a file, or text the add-on read from a Blender text block).

docs/rigs.md lists every accepted name. Everything here is pure Python: the add-on
passes in the names it read from Blender.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NeuralFaceError
from .arkit import ARKIT_52

PROFILE_NAMES = ("arkit52", "flame", "custom")
_WHERE_MAP = ("a JSON file or a Blender text block (Rig Profile 'Custom' and Rig Map in the "
              "Neural Face panel; --profile custom --map FILE.json on the command line; see docs/rigs.md)")

# Canonical joint name -> bone names that mean it, compared after _normalise().
_JOINT_BONES = {
    "arkit52": {
        "head": ("head",),
        "neck": ("neck",),
        "jaw": ("jaw",),
        "eye.L": ("eye.L", "eyeL", "eye_left", "left_eye", "lefteye", "eye_l"),
        "eye.R": ("eye.R", "eyeR", "eye_right", "right_eye", "righteye", "eye_r"),
    },
    "flame": {
        "head": ("head", "global", "root"),
        "neck": ("neck",),
        "jaw": ("jaw",),
        "eye.L": ("left_eye", "eye_left", "eye.L", "l_eye", "eyeL"),
        "eye.R": ("right_eye", "eye_right", "eye.R", "r_eye", "eyeR"),
    },
}
_JOINT_BONES["custom"] = _JOINT_BONES["arkit52"]

_IDENTITY = re.compile(r"^id_?(\d+)$", re.IGNORECASE)
_FLAME = re.compile(r"^(shape|exp)[_ ]?(\d+)$", re.IGNORECASE)
_NAMESPACE = re.compile(r"^.*[:|]")  # "mesh:eyeBlinkLeft", "Face|eyeBlinkLeft"
_PREFIX_END = re.compile(r"[._]")  # "Face.jawOpen", "Face_jawOpen", "blendShape1.jawOpen"


@dataclass
class KeyMapping:
    """One shape key feeding one coefficient: ``coefficient = value * scale``."""

    shape_key: str
    coefficient: str
    scale: float = 1.0


@dataclass
class ProfileMatch:
    """How one profile reads one rig.

    ``coefficient_names`` fixes the order of the exported coefficient vector; a
    coefficient with no shape key in the rig (``missing``) is exported as 0.
    """

    profile: str
    coefficient_names: list[str]
    mappings: list[KeyMapping]
    unmapped: list[str] = field(default_factory=list)   # rig keys no coefficient reads
    missing: list[str] = field(default_factory=list)    # coefficients with no rig key
    joints: dict[str, str] = field(default_factory=dict)  # canonical joint -> bone name
    score: int = 0  # expression keys matched (what auto-detection compares)

    def summary(self) -> str:
        text = (f"profile '{self.profile}': {len(self.mappings)} shape keys mapped to "
                f"{len(self.coefficient_names)} coefficients")
        if self.unmapped:
            text += f"; not mapped: {_listing(self.unmapped)}"
        return text


def _normalise(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _listing(names, limit=12) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _arkit_variants() -> dict[str, str]:
    """Normalised spelling -> ARKit name, for every accepted variant."""
    table = {}
    for name in ARKIT_52:
        spellings = {name}
        for side, short in (("Left", "L"), ("Right", "R")):
            if name.endswith(side):
                base = name[: -len(side)]
                spellings |= {base + short, base + "_" + short, base + "." + short}
        for spelling in spellings:
            key = _normalise(spelling)
            if table.get(key, name) != name:  # pragma: no cover - checked at import
                raise AssertionError(f"ARKit variant {spelling!r} is ambiguous")
            table[key] = name
    return table


_ARKIT_LOOKUP = _arkit_variants()


def _arkit_match(shape_key: str) -> tuple[str | None, bool]:
    """(ARKit name or None, whether a ``.``/``_`` prefix had to be dropped to find it).

    The whole name (after a ``namespace:`` / ``Face|`` prefix) is tried first, so the
    ``_`` of a variant (``mouth_smile_L``, ``eyeBlink_L``) is never taken for the end of
    a prefix. Otherwise the longest rest after a ``.`` or ``_`` that is itself a complete
    ARKit spelling wins (``Face_mouth_smile_L`` -> ``mouthSmileLeft``); a rest that is
    not (``Face_something``, ``jawOpen_R`` -> ``R``) matches nothing.
    """
    name = _NAMESPACE.sub("", shape_key)
    found = _ARKIT_LOOKUP.get(_normalise(name))
    if found is not None:
        return found, False
    for end in _PREFIX_END.finditer(name):
        found = _ARKIT_LOOKUP.get(_normalise(name[end.end():]))
        if found is not None:
            return found, True
    return None, False


def arkit_name(shape_key: str) -> str | None:
    """The ARKit name a shape key spells (``"eyeBlink_L"`` -> ``"eyeBlinkLeft"``,
    ``"blendShape1.jawOpen"`` -> ``"jawOpen"``), or None."""
    return _arkit_match(shape_key)[0]


def _match_joints(profile: str, bones) -> dict[str, str]:
    by_norm = {}
    for bone in bones:
        by_norm.setdefault(_normalise(bone), bone)
    joints = {}
    for joint, candidates in _JOINT_BONES[profile].items():
        for candidate in candidates:
            bone = by_norm.get(_normalise(candidate))
            if bone is not None:
                joints[joint] = bone
                break
    return joints


def _finish(profile, coefficient_names, mappings, shape_keys, bones, score) -> ProfileMatch:
    used = {m.shape_key for m in mappings}
    present = {m.coefficient for m in mappings}
    return ProfileMatch(
        profile=profile,
        coefficient_names=list(coefficient_names),
        mappings=mappings,
        unmapped=[k for k in shape_keys if k not in used],
        missing=[c for c in coefficient_names if c not in present],
        joints=_match_joints(profile, bones),
        score=score,
    )


def _identity_mappings(shape_keys) -> list[KeyMapping]:
    found = {}
    for key in shape_keys:
        m = _IDENTITY.match(key)
        if m:
            found.setdefault(int(m.group(1)), key)
    return [KeyMapping(found[i], f"id_{i:02d}") for i in sorted(found)]


def match_arkit52(shape_keys, bones=()) -> ProfileMatch:
    """Map identity keys ``id_NN`` and ARKit-named keys (any accepted variant)."""
    identity = _identity_mappings(shape_keys)
    expression = {}
    matches = [(key, *_arkit_match(key)) for key in shape_keys]
    for prefixed_pass in (False, True):  # "jawOpen" wins over "Corrective_jawOpen", whatever the order
        for key, name, prefixed in matches:
            if name is not None and prefixed == prefixed_pass:
                expression.setdefault(name, key)  # a second spelling of the same name stays unmapped
    mappings = identity + [KeyMapping(expression[n], n) for n in ARKIT_52 if n in expression]
    names = [m.coefficient for m in identity] + list(ARKIT_52)
    return _finish("arkit52", names, mappings, shape_keys, bones, len(expression))


def match_flame(shape_keys, bones=()) -> ProfileMatch:
    """Map ``Shape000``... and ``Exp000``... keys, numbered, shape coefficients first."""
    found = {"shape": {}, "exp": {}}
    for key in shape_keys:
        m = _FLAME.match(key)
        if m:
            found[m.group(1).lower()].setdefault(int(m.group(2)), key)
    mappings = []
    for kind, label in (("shape", "Shape"), ("exp", "Exp")):
        mappings += [KeyMapping(found[kind][i], f"{label}{i:03d}") for i in sorted(found[kind])]
    names = [m.coefficient for m in mappings]
    return _finish("flame", names, mappings, shape_keys, bones, len(mappings))


def load_custom_map(path) -> list[KeyMapping]:
    """Read a custom map: ``{"shape key": "coefficient" | {"name": str, "scale": float}}``.

    The file order is the coefficient order. Raises NeuralFaceError naming the file and
    the entry when it is not such a JSON object.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NeuralFaceError(f"{path}: cannot read the custom rig map ({exc.strerror})") from exc
    except ValueError as exc:
        raise NeuralFaceError(f"{path}: the custom rig map is not valid JSON ({exc})") from exc
    return parse_custom_map(data, source=str(path))


def parse_custom_map(data, source="custom map") -> list[KeyMapping]:
    """Validate an already-parsed custom map (see :func:`load_custom_map`)."""
    if not isinstance(data, dict) or not data:
        raise NeuralFaceError(
            f"{source}: expected a non-empty JSON object "
            '{"shape key": "coefficient" | {"name": ..., "scale": ...}}')
    mappings, seen = [], set()
    for key, value in data.items():
        if isinstance(value, str):
            name, scale = value, 1.0
        elif isinstance(value, dict) and isinstance(value.get("name"), str):
            name, scale = value["name"], value.get("scale", 1.0)
            if isinstance(scale, bool) or not isinstance(scale, (int, float)):
                raise NeuralFaceError(f"{source}: entry '{key}': 'scale' must be a number")
        else:
            raise NeuralFaceError(
                f"{source}: entry '{key}': expected a coefficient name or "
                '{"name": ..., "scale": ...}')
        if not name:
            raise NeuralFaceError(f"{source}: entry '{key}': empty coefficient name")
        if name in seen:
            raise NeuralFaceError(f"{source}: entry '{key}': coefficient '{name}' is used twice")
        seen.add(name)
        mappings.append(KeyMapping(key, name, float(scale)))
    return mappings


def match_custom(shape_keys, custom_map, bones=()) -> ProfileMatch:
    """Apply a custom map (a path, a parsed dict, or a list of KeyMapping)."""
    if isinstance(custom_map, (str, Path)):
        entries = load_custom_map(custom_map)
    elif isinstance(custom_map, dict):
        entries = parse_custom_map(custom_map)
    else:
        entries = list(custom_map)
    present = set(shape_keys)
    mappings = [m for m in entries if m.shape_key in present]
    if not mappings:
        raise NeuralFaceError(
            f"the custom rig map names none of the rig's shape keys: it names "
            f"{_listing(m.shape_key for m in entries)}; the rig has {_listing(shape_keys)}")
    names = [m.coefficient for m in entries]
    return _finish("custom", names, mappings, shape_keys, bones, len(mappings))


def match_profile(profile, shape_keys, bones=(), custom_map=None) -> ProfileMatch:
    """Read ``shape_keys`` (names, reference key excluded) with the named profile.

    ``profile`` is ``"arkit52"``, ``"flame"``, ``"custom"`` (needs ``custom_map``) or
    ``"auto"`` (see :func:`detect_profile`). Raises NeuralFaceError when the profile
    maps nothing.
    """
    shape_keys = list(shape_keys)
    if profile == "auto":
        return detect_profile(shape_keys, bones, custom_map)
    if profile == "custom":
        if custom_map is None:
            raise NeuralFaceError(f"rig profile 'custom' needs a custom map: {_WHERE_MAP}")
        return match_custom(shape_keys, custom_map, bones)
    if profile == "arkit52":
        match = match_arkit52(shape_keys, bones)
    elif profile == "flame":
        match = match_flame(shape_keys, bones)
    else:
        raise NeuralFaceError(
            f"unknown rig profile '{profile}' (choose one of {', '.join(PROFILE_NAMES)} or auto)")
    if not match.mappings:
        raise NeuralFaceError(_nothing_found(shape_keys, f"rig profile '{profile}'"))
    return match


def detect_profile(shape_keys, bones=(), custom_map=None) -> ProfileMatch:
    """Pick the built-in profile that maps the most expression keys.

    With ``custom_map`` the custom profile is used (an explicit map wins). The result's
    ``unmapped`` lists the rig keys the chosen profile could not map.
    """
    shape_keys = list(shape_keys)
    if custom_map is not None:
        return match_custom(shape_keys, custom_map, bones)
    candidates = [match_arkit52(shape_keys, bones), match_flame(shape_keys, bones)]
    best = max(candidates, key=lambda m: m.score)  # ties keep the first (arkit52)
    if best.score == 0:
        raise NeuralFaceError(_nothing_found(shape_keys, "no known rig profile"))
    return best


def _nothing_found(shape_keys, what) -> str:
    found = _listing(shape_keys) if shape_keys else "no shape keys at all"
    return (
        f"{what} matches this rig's shape keys. Found: {found}. Known names are the 52 "
        "ARKit blendshapes (eyeBlinkLeft, jawOpen, ... also eyeBlink_L / EyeBlinkLeft) and "
        "FLAME's Shape000.../Exp000.... For any other rig, use rig profile 'custom' with a "
        'custom map {"your key name": "coefficient name" or {"name": ..., "scale": ...}}: '
        f"{_WHERE_MAP}.")
