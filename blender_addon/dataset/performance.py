"""What the synthetic actor is and does (pure numpy, no Blender): plain JSON-ready data.

One actor per seed: a hidden identity (``id_NN`` keys, as the training data draws them)
and ONE skin/eye/hair look (``sampling.APPEARANCE`` uniforms; only the lighting entries
change from frame to frame). Per frame: ARKit-52 expression values (``sampling.expression``:
archetype combinations, blinks, jawOpen, gaze), the bone pose (neck + head turn: yaw up to
``MAX_YAW``, smaller pitch and roll; jaw; eye bones following the gaze), a camera that
looks at the face from near the front, the lights and a background plate.

Angles are radians (Euler XYZ of the pose bones, as ``rotation_euler``), lengths metres,
lens millimetres. Draws are reproducible: the actor from ``default_rng([seed, 0])``, a still
frame from ``default_rng([seed, split, index])``, the video from ``default_rng([seed, 3])``,
so any frame can be made alone, in any order (resume).
"""

import math

import numpy as np

from . import sampling
from .plates import KINDS as PLATE_KINDS

SPLITS = {"train": 1, "held_out": 2}  # split name -> its rng stream
VIDEO_STREAM = 3
LIGHT_KEYS = ("light_azimuth", "light_elevation", "light_ratio", "light_warmth", "ambient")
MAX_YAW = math.radians(45)  # head turn (neck + head bones together)
MAX_PITCH = math.radians(20)
MAX_ROLL = math.radians(12)
NECK_SHARE = 0.3  # of the head's turn/nod/tilt done by the neck bone (the rest by the head bone)
ACTOR_RANGES = {"hair_cover": (0.6, 1.0), "skin_roughness": (0.5, 1.0)}  # appearance uniform -> this range
VIDEO_FRAMES = 48
VIDEO_STATIC = (21, 34)  # first and last frame of the video's static stretch (14 frames)


def actor(seed, identity_names):
    """{"identity": {id_NN: value in [-1, 1]}, "appearance": [uniforms in APPEARANCE order]}.

    The look is the training data's draw with the entries of ``ACTOR_RANGES`` squeezed into
    their ranges (an actor with hair and skin that is not wet-looking)."""
    rng = np.random.default_rng([seed, 0])
    identity = sampling.identity(rng, identity_names)
    appearance = sampling.appearance(rng)
    for key, (low, high) in ACTOR_RANGES.items():
        i = sampling.APPEARANCE.index(key)
        appearance[i] = low + (high - low) * appearance[i]
    return {"identity": identity, "appearance": [float(v) for v in appearance]}


def lights(rng):
    """{light key: uniform in [0, 1]} for ``LIGHT_KEYS`` (the key light never from behind)."""
    values = {key: float(rng.random()) for key in LIGHT_KEYS}
    values["light_azimuth"] = float(rng.uniform(0.15, 0.85))  # within +-70 degrees of the face's front
    values["ambient"] = float(rng.uniform(0.2, 1.0))
    return values


def with_lights(appearance, light_values):
    """The actor's appearance uniforms with the lighting entries replaced."""
    out = list(appearance)
    for key, value in light_values.items():
        out[sampling.APPEARANCE.index(key)] = float(value)
    return out


def head_turn(yaw, pitch, roll):
    """Neck and head bone Eulers (X nod, Y turn, Z tilt) sharing one head orientation."""
    total = np.array([pitch, yaw, roll], dtype=float)
    return tuple(float(v) for v in NECK_SHARE * total), tuple(float(v) for v in (1 - NECK_SHARE) * total)


def camera(rng):
    """A camera near the front of the face: ``sampling.camera``'s fields."""
    lens = float(rng.uniform(35.0, 85.0))
    fraction = float(rng.uniform(0.62, 0.85))  # face height / image height
    face_height = 0.22
    return {
        "yaw": float(np.clip(rng.normal(0, math.radians(6)), -math.radians(15), math.radians(15))),
        "pitch": float(np.clip(rng.normal(0, math.radians(5)), -math.radians(12), math.radians(12))),
        "roll": float(rng.normal(0, math.radians(2))),
        "lens": lens,
        "distance": face_height / fraction * lens / 36.0,
        "offset": tuple(float(v) for v in rng.normal(0, 0.1, size=2) * face_height * (1 - fraction)),
    }


def plate(rng):
    """{"kind": one of PLATE_KINDS, "seed": int} (``plates.make_plate`` draws it)."""
    return {"kind": str(rng.choice(PLATE_KINDS)), "seed": int(rng.integers(0, 2**31 - 1))}


def still_frame(seed, split, index, arkit_names):
    """Frame ``index`` (0-based) of ``split`` ("train" / "held_out"): expression, pose,
    camera, lights, plate."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    expression = sampling.expression(rng, arkit_names)
    pose = sampling.pose(rng, expression)  # jaw and eyes; neck and head replaced below
    yaw = float(np.clip(rng.normal(0, math.radians(20)), -MAX_YAW, MAX_YAW))
    pitch = float(np.clip(rng.normal(0, math.radians(8)), -MAX_PITCH, MAX_PITCH))
    roll = float(np.clip(rng.normal(0, math.radians(5)), -MAX_ROLL, MAX_ROLL))
    pose["neck"], pose["head"] = head_turn(yaw, pitch, roll)
    return {"expression": expression, "pose": pose, "camera": camera(rng), "lights": lights(rng), "plate": plate(rng)}


def _track(keys, frame):
    """Value at ``frame`` of a track [(frame, value), ...] (sorted), eased (smoothstep)
    between keys and held beyond the ends."""
    frames = [k[0] for k in keys]
    if frame <= frames[0]:
        return float(keys[0][1])
    if frame >= frames[-1]:
        return float(keys[-1][1])
    i = int(np.searchsorted(frames, frame, side="right")) - 1
    (f0, v0), (f1, v1) = keys[i], keys[i + 1]
    t = (frame - f0) / (f1 - f0)
    return float(v0 + (v1 - v0) * t * t * (3 - 2 * t))


def video_tracks(rng):
    """{channel: track} of the video's performance; frames 21..34 (``VIDEO_STATIC``) hold still."""
    deg = math.radians
    side = float(rng.choice([-1.0, 1.0]))
    turn = deg(rng.uniform(25, 40)) * side
    smile = float(rng.uniform(0.5, 0.9))
    start, end = VIDEO_STATIC
    talk = [(f, 0.35 if (f // 3) % 2 else 0.05) for f in range(2, 18, 3)]  # syllables: about 4 per second at 24 fps
    return {
        "yaw": [(1, -0.4 * turn), (start, turn), (end, turn), (48, -0.6 * turn)],
        "pitch": [(1, deg(-3)), (12, deg(6)), (start, deg(2)), (end, deg(2)), (44, deg(-8))],
        "roll": [(1, 0.0), (start, deg(4) * side), (end, deg(4) * side), (48, deg(-3) * side)],
        "jawOpen": [(1, 0.0)] + talk + [(start, 0.08), (end, 0.08), (38, 0.75), (42, 0.1)],
        "eyeBlink": [(1, 0.0), (7, 0.0), (9, 1.0), (11, 0.0), (end, 0.0), (44, 0.0), (45, 1.0), (47, 0.0)],
        "mouthSmile": [(1, 0.1), (start, smile), (end, smile), (40, 0.0)],
        "cheekSquint": [(1, 0.0), (start, 0.5 * smile), (end, 0.5 * smile), (40, 0.0)],
        "browInnerUp": [(1, 0.0), (end, 0.0), (38, 0.8), (44, 0.1)],
        "browOuterUp": [(1, 0.0), (end, 0.0), (38, 0.7), (44, 0.0)],
        "gazeX": [(1, 0.0), (10, -0.4 * side), (start, 0.2 * side), (end, 0.2 * side), (42, -0.3 * side)],
        "gazeY": [(1, 0.0), (14, 0.2), (start, -0.1), (end, -0.1), (46, 0.0)],
    }


def video_frames(seed, arkit_names, count=VIDEO_FRAMES):
    """Frames 1..``count`` of the video: a continuous performance under one camera, one
    light and one plate; frames ``VIDEO_STATIC`` are identical."""
    rng = np.random.default_rng([seed, VIDEO_STREAM])
    tracks = video_tracks(rng)
    shot_camera, shot_lights, shot_plate = camera(rng), lights(rng), plate(rng)
    frames = []
    for f in range(1, count + 1):
        v = {name: _track(keys, f) for name, keys in tracks.items()}
        expression = dict.fromkeys(arkit_names, 0.0)
        values = {"jawOpen": v["jawOpen"], "browInnerUp": v["browInnerUp"]}
        for lr in sampling.ARKIT_LR:
            values.update({f"eyeBlink{lr}": v["eyeBlink"], f"mouthSmile{lr}": v["mouthSmile"],
                           f"cheekSquint{lr}": v["cheekSquint"], f"browOuterUp{lr}": v["browOuterUp"]})
            inward = v["gazeX"] if lr == "Left" else -v["gazeX"]
            values.update({f"eyeLookIn{lr}": max(inward, 0.0), f"eyeLookOut{lr}": max(-inward, 0.0),
                           f"eyeLookUp{lr}": max(v["gazeY"], 0.0), f"eyeLookDown{lr}": max(-v["gazeY"], 0.0)})
        expression.update({k: float(np.clip(x, 0.0, 1.0)) for k, x in values.items() if k in expression})
        look_x, look_y = -v["gazeX"], v["gazeY"]  # + = the left eye looks outward / up (as sampling.pose)
        eye = (math.radians(25) * look_y, 0.0, math.radians(30) * look_x)
        neck, head = head_turn(v["yaw"], v["pitch"], v["roll"])
        pose = {"neck": neck, "head": head, "jaw": (math.radians(3) * v["jawOpen"], 0.0, 0.0), "eye.L": eye, "eye.R": eye}
        frames.append({"expression": expression, "pose": pose, "camera": shot_camera, "lights": shot_lights, "plate": shot_plate})
    return frames
