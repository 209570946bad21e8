"""A new run's starting weights (``TrainConfig.init``) and the watch that stops a run gone bad.

Warm start: an actor model learns one person from a few hundred frames in a CPU budget
of hours. Starting from random weights it spends that budget learning what the bundled
model already knows (how normals, depth and regions become shading). ``init = "default"``
copies the bundled model's generator and pass encoder into the new run (``init`` may also
name any conditional model file of the same shape and coefficient order); the appearance
codes, their map into W and the discriminator start fresh. Codes start at 0 and z is 0 in
a run with codes, so step 0 renders exactly the source model's median look.

Divergence: a run whose losses stay finite can still blow up (a CPU actor run went from
a reconstruction loss of 0.12 to 4,400 within 40 steps, the adversarial term to 1e13).
:class:`DivergenceWatch` compares the median reconstruction loss of the last ``window``
steps with the lowest such median seen so far; ``factor`` times higher stops the run
(the trainer raises, keeping its last checkpoint and ``best.safetensors``). A single
spike does not trip it: the default model's run had one-step spikes it recovered from.
"""

from collections import deque
from pathlib import Path

import numpy as np

from ..contract.errors import NeuralFaceError

# the parts copied from the source model: everything but the appearance codes
COPIED_PREFIXES = ("generator.", "encoder.")


def init_path(init: str) -> Path:
    """The model file ``init`` names: "default" = the bundled model, else a path."""
    from .. import DEFAULT_MODEL

    path = DEFAULT_MODEL if init == "default" else Path(init).expanduser()
    if not path.is_file():
        raise NeuralFaceError(f"--init {init}: no model file at {path}")
    return path


def warm_start(model, init: str) -> str:
    """Copy the generator and encoder of the model file ``init`` into ``model`` (a
    ConditionalModel of the new run); returns a line saying what was copied.
    NeuralFaceError (naming the file and the difference) when the shapes differ."""
    import torch

    from ..face_model.checkpoint import read_conditional

    path = init_path(init)
    source, state, _info = read_conditional(path)
    target = model.config
    checks = [
        ("generator", source.generator.to_dict(), target.generator.to_dict()),
        ("pass encoder", source.encoder.to_dict(), target.encoder.to_dict()),
        ("coefficient order", list(source.coefficient_names), list(target.coefficient_names)),
    ]
    for what, theirs, ours in checks:
        if theirs != ours:
            raise NeuralFaceError(f"--init {path}: its {what} differs from this run's ({_difference(theirs, ours)}); "
                                  "start from a model of the same shape, or without --init")
    own = model.state_dict()
    copied = {k: v for k, v in state.items() if k.startswith(COPIED_PREFIXES)}
    missing = sorted(k for k in own if k.startswith(COPIED_PREFIXES) and k not in copied)
    if missing:
        raise NeuralFaceError(f"--init {path}: tensors missing ({', '.join(missing[:3])})")
    with torch.no_grad():
        for key, value in copied.items():
            own[key].copy_(value.to(own[key].dtype))
    return f"started from {path.name}: {len(copied)} generator and encoder tensors copied"


def _difference(theirs, ours) -> str:
    if isinstance(theirs, dict):
        keys = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        return "; ".join(f"{k}: {theirs.get(k)!r} there, {ours.get(k)!r} here" for k in keys[:3])
    if len(theirs) != len(ours):
        return f"{len(theirs)} names there, {len(ours)} here"
    first = next(i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b)
    return f"name {first} is {theirs[first]!r} there, {ours[first]!r} here"


class DivergenceWatch:
    def __init__(
        self,
        window: int = 20,  # steps in each median
        factor: float = 10.0,  # a window's median this many times the lowest one so far is a divergence
    ):
        self.window, self.factor = window, factor
        self.recent = deque(maxlen=window)
        self.lowest = float("inf")

    def update(self, rec: float) -> str | None:
        """Record one step's reconstruction loss; a message when the run has diverged, else None."""
        self.recent.append(float(rec))
        if len(self.recent) < self.window:
            return None
        median = float(np.median(self.recent))
        if median > self.factor * self.lowest:
            return (f"the reconstruction loss's median over the last {self.window} steps is {median:.4g}, "
                    f"over {self.factor:g}x its lowest ({self.lowest:.4g})")
        self.lowest = min(self.lowest, median)
        return None

    def state(self) -> dict:
        return {"recent": list(self.recent), "lowest": self.lowest}

    def load(self, state: dict):
        self.recent.clear()
        self.recent.extend(state.get("recent", []))
        self.lowest = float(state.get("lowest", float("inf")))
