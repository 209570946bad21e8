"""A new run's starting weights (``TrainConfig.init``).

Warm start: an actor model learns one person from a few hundred frames in a CPU budget
of hours. Starting from random weights it spends that budget learning what the bundled
model already knows (how normals, depth and regions become shading). ``init = "default"``
copies the bundled model's generator and pass encoder into the new run (``init`` may also
name any conditional model file of the same shape and coefficient order); the appearance
codes, their map into W and the discriminator start fresh. Codes start at 0 and z is 0 in
a run with codes, so step 0 renders exactly the source model's median look.
"""

from pathlib import Path

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
