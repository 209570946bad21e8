"""The evaluation shot of ``tools/evaluate.py``: 48 frames of the bundled head at the
median appearance (jawOpen, blinks, a smile, a head turn), with frames 40-44 held.

It is a sample folder like the training data's (``chunk.make_chunk``: exporter passes +
Cycles renders with the same recipe); its ``frames.json`` carries ``held_frames``, which
the core's evaluation reads (``neural_core.evaluation.metrics.held_frames``).
"""

import math

import numpy as np

from ..core_link import arkit
from ..head.identity import identity_names
from . import sampling

SHOT_FRAMES = 48
HELD = range(40, 45)  # frames whose input is held constant (frame 40's)
MEDIAN_LOOK = 0.5  # every appearance uniform: the median skin, light and background
FACE_FRACTION = 0.7  # face height / image height


def shot_parameters():
    """``sampling.frame_parameters``-style dicts of frames 1..48 (angles in radians)."""
    frames = []
    for f in range(1, SHOT_FRAMES + 1):
        g = HELD.start if f in HELD else f
        jaw = 0.5 - 0.5 * math.cos(2 * math.pi * g / 16)
        blink = float(np.clip(1.6 * math.sin(2 * math.pi * g / 11 + 1.0), 0.0, 1.0))
        smile = float(np.clip(math.sin(2 * math.pi * g / 24), 0.0, 1.0)) * 0.7
        expression = dict.fromkeys(arkit.ARKIT_52, 0.0)
        expression.update(jawOpen=jaw, eyeBlinkLeft=blink, eyeBlinkRight=blink, mouthSmileLeft=smile, mouthSmileRight=smile)
        yaw = math.radians(20) * math.sin(2 * math.pi * g / SHOT_FRAMES)
        frames.append({
            "identity": dict.fromkeys(identity_names(), 0.0),
            "expression": expression,
            "pose": {"head": (0.0, yaw, 0.0), "neck": (0.0, 0.0, 0.0), "jaw": (0.0, 0.0, 0.0),
                     "eye.L": (0.0, 0.0, 0.0), "eye.R": (0.0, 0.0, 0.0)},
            "camera": {"yaw": 0.0, "pitch": math.radians(3), "roll": 0.0, "lens": 50.0,
                       "distance": 0.22 / FACE_FRACTION * 50.0 / 36.0, "offset": (0.0, 0.0)},
            "appearance": [MEDIAN_LOOK] * len(sampling.APPEARANCE),
        })
    return frames


def build_shot(folder, resolution=256, samples=12):
    """Write the evaluation shot as a sample folder at ``folder`` (``shot/``, ``targets/``,
    ``frames.json`` with ``held_frames``)."""
    from .chunk import make_chunk

    make_chunk(folder, shot_parameters(), resolution, samples, notes={"held_frames": list(HELD)})
