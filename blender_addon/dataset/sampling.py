"""Random parameters of one training frame (pure numpy, no Blender).

Everything is drawn from a ``numpy.random.Generator`` so a dataset is reproducible from
its seed. Units: angles in radians, lengths in metres, focal length in millimetres.

- identity: ``id_NN`` shape-key values, normal(0, 0.45) clipped to [-1, 1];
- expression: ARKit-52 values made of 0-3 archetypes (smile, open mouth, blink, ...)
  with random weights and left/right asymmetry, plus sparse noise on a few keys; jawOpen
  is drawn broadly on its own so the model sees its whole range;
- pose: head/neck/jaw/eye bone rotations (XYZ Euler, bone local axes) in
  animation-plausible ranges;
- camera: a direction around the face (yaw, pitch), a focal length and a distance that
  frames the face at 50-85% of the image height;
- appearance: ``APPEARANCE`` uniforms in [0, 1] (skin, lips, eyes, hair, lighting,
  background); the model's appearance latent is their probit
  (``neural_core.train.dataset.probit``, applied by the core to what ``frames.json`` holds).
"""

import math

import numpy as np

ARKIT_LR = ("Left", "Right")

# name -> {ARKit key: weight}; "*" stands for Left and Right (asymmetry is added per side)
ARCHETYPES = {
    "smile": {"mouthSmile*": 0.9, "cheekSquint*": 0.5, "eyeSquint*": 0.3, "mouthUpperUp*": 0.2},
    "frown": {"mouthFrown*": 0.8, "browDown*": 0.6, "mouthShrugLower": 0.3, "mouthPress*": 0.3},
    "surprise": {"browInnerUp": 0.9, "browOuterUp*": 0.8, "eyeWide*": 0.7, "jawOpen": 0.4},
    "blink": {"eyeBlink*": 1.0},
    "squint": {"eyeSquint*": 0.8, "cheekSquint*": 0.4, "browDown*": 0.3},
    "pucker": {"mouthPucker": 0.9, "mouthFunnel": 0.4},
    "funnel": {"mouthFunnel": 0.9, "jawOpen": 0.25},
    "sneer": {"noseSneer*": 0.8, "mouthUpperUp*": 0.5, "browDown*": 0.3},
    "stretch": {"mouthStretch*": 0.8, "mouthLowerDown*": 0.4, "jawOpen": 0.15},
    "talk": {"jawOpen": 0.3, "mouthLowerDown*": 0.3, "mouthUpperUp*": 0.2, "mouthClose": 0.1},
    "puff": {"cheekPuff": 0.9, "mouthClose": 0.3},
    "roll": {"mouthRollLower": 0.7, "mouthRollUpper": 0.6, "mouthPress*": 0.4},
    "shift": {"mouthLeft": 0.7, "jawLeft": 0.4},
    "shift_r": {"mouthRight": 0.7, "jawRight": 0.4},
    "look": {},  # gaze only (eye bones and eyeLook keys)
}

APPEARANCE = (
    "skin_tone",  # light -> dark
    "skin_undertone",  # yellow -> red
    "redness",  # blotchy redness on cheeks and nose
    "freckles",  # freckle density
    "skin_roughness",
    "lip_colour",
    "iris_hue",
    "hair_darkness",  # brows and hair colour
    "hair_cover",  # 0 = bald, 1 = hairline low on the forehead
    "light_azimuth",  # key light around the head
    "light_elevation",
    "light_ratio",  # key vs ambient
    "light_warmth",  # colour temperature
    "ambient",  # environment brightness
    "background_hue",
    "background_value",
)


def identity(rng, names) -> dict:
    return {name: float(np.clip(rng.normal(0.0, 0.45), -1.0, 1.0)) for name in names}


def expression(rng, names) -> dict:
    """ARKit values {name: 0..1} for every name in ``names``; mostly zeros, correlated."""
    values = dict.fromkeys(names, 0.0)
    count = rng.choice([0, 1, 1, 2, 2, 3])
    for archetype in rng.choice(list(ARCHETYPES), size=count, replace=False):
        weight = rng.uniform(0.2, 1.0)
        asymmetry = rng.normal(0.0, 0.15)
        for key, amount in ARCHETYPES[archetype].items():
            targets = (
                [(key.replace("*", side), 1 + (asymmetry if side == "Left" else -asymmetry)) for side in ARKIT_LR]
                if "*" in key
                else [(key, 1.0)]
            )
            for target, side_gain in targets:
                if target in values:
                    values[target] = max(values[target], amount * weight * side_gain)
    if rng.random() < 0.6:  # jawOpen on its own, over its whole range
        values["jawOpen"] = max(values.get("jawOpen", 0.0), rng.uniform(0.0, 1.0))
    if rng.random() < 0.25:  # a blink, closed or half closed, mostly both eyes
        closure = rng.choice([1.0, rng.uniform(0.3, 1.0)])
        values["eyeBlinkLeft"] = max(values.get("eyeBlinkLeft", 0.0), closure * rng.uniform(0.9, 1.0))
        values["eyeBlinkRight"] = max(values.get("eyeBlinkRight", 0.0), closure * rng.uniform(0.9, 1.0))
    for key in rng.choice(list(names), size=rng.integers(0, 4), replace=False):  # sparse noise
        values[key] = max(values[key], rng.uniform(0.0, 0.5))
    gaze_x, gaze_y = rng.normal(0.0, 0.35, size=2)
    for side in ARKIT_LR:
        inward = gaze_x if side == "Left" else -gaze_x
        values[f"eyeLookIn{side}"] = max(values.get(f"eyeLookIn{side}", 0.0), float(np.clip(inward, 0, 1)))
        values[f"eyeLookOut{side}"] = max(values.get(f"eyeLookOut{side}", 0.0), float(np.clip(-inward, 0, 1)))
        values[f"eyeLookUp{side}"] = max(values.get(f"eyeLookUp{side}", 0.0), float(np.clip(gaze_y, 0, 1)))
        values[f"eyeLookDown{side}"] = max(values.get(f"eyeLookDown{side}", 0.0), float(np.clip(-gaze_y, 0, 1)))
    return {k: float(np.clip(v, 0.0, 1.0)) for k, v in values.items() if k in names}


def pose(rng, expression_values) -> dict:
    """{bone: (x, y, z) Euler radians}: head turn/nod/tilt, a little neck, jaw and eyes.

    The jaw bone follows jawOpen a little (the jawOpen key already opens the mouth), the
    eye bones follow the eyeLook values.
    """
    deg = math.radians
    # the head bone points up: local X = nod, local Y (along the bone) = turn, local Z = tilt
    head = (rng.normal(0, deg(8)), rng.normal(0, deg(14)), rng.normal(0, deg(5)))
    head = tuple(float(np.clip(a, -limit, limit)) for a, limit in zip(head, (deg(20), deg(35), deg(12))))
    neck = tuple(float(a) for a in rng.normal(0, deg(3), size=3))
    jaw = (deg(4) * expression_values.get("jawOpen", 0.0) * rng.uniform(0, 1), 0.0, 0.0)
    e = expression_values
    look_x = e.get("eyeLookOutLeft", 0) - e.get("eyeLookInLeft", 0)  # + = the left eye looks outward (subject's left)
    look_y = e.get("eyeLookUpLeft", 0) - e.get("eyeLookDownLeft", 0)
    eye = (deg(25) * look_y, 0.0, deg(30) * look_x)
    return {"head": head, "neck": neck, "jaw": jaw, "eye.L": eye, "eye.R": eye}


def camera(rng) -> dict:
    """Camera around the face: yaw/pitch (radians, 0 = straight on), roll, lens (mm), framing, offsets."""
    lens = float(rng.uniform(35.0, 85.0))
    fraction = float(rng.uniform(0.5, 0.85))  # face height / image height
    face_height = 0.22  # metres, chin to hairline with a margin
    distance = face_height / fraction * lens / 36.0  # 36 mm sensor, square image
    return {
        "yaw": float(np.clip(rng.normal(0, math.radians(18)), -math.radians(45), math.radians(45))),
        "pitch": float(np.clip(rng.normal(0, math.radians(8)), -math.radians(25), math.radians(25))),
        "roll": float(rng.normal(0, math.radians(3))),
        "lens": lens,
        "distance": float(distance),
        "offset": tuple(float(v) for v in rng.normal(0, 0.08, size=2) * face_height * (1 - fraction)),
    }


def appearance(rng) -> np.ndarray:
    """[len(APPEARANCE)] uniforms in [0, 1]."""
    return rng.random(len(APPEARANCE))


def frame_parameters(rng, identity_names, arkit_names) -> dict:
    """Everything random about one frame, as plain data (JSON-ready)."""
    e = expression(rng, arkit_names)
    return {
        "identity": identity(rng, identity_names),
        "expression": e,
        "pose": pose(rng, e),
        "camera": camera(rng),
        "appearance": [float(v) for v in appearance(rng)],
    }
