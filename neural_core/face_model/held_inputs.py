"""Identity inputs an actor model holds at the identity it was trained on.

An actor model learns one person from frames that all carry the same identity values (the
actor's fitted identity). Those inputs never varied in training, so the network never
learnt what they do: driven with another identity (a rig whose identity keys were not set
by *Apply Actor Identity*, or the synthetic actor's hidden true identity, which lies far
from the fitted one in key values while within 1.1 mm in shape) its output drifts in ways
no training frame showed. On the synthetic actor's video, with the true identity, the
whole face turned pinker with every closed eye (CIEDE2000 up to 4.5 from the shot's median
skin colour); with the identity it was trained on, 2.2 (docs/actor.md).

So the trainer records, in the model file's ``info``, the identity coefficients that were
constant over its training frames (``HELD_KEY``: {name: value}), and every renderer of a
conditional model holds those inputs at those values. The rig's identity still shapes the
face: it is in the passes (normal, depth, regions), which the model reads as they are.
Models trained on many identities (the bundled default) record none and are unchanged.
"""

import re

import numpy as np

HELD_KEY = "held_inputs"  # the model info's {coefficient name: value}
IDENTITY_NAME = re.compile(r"^(id_\d+|Shape\d+)$")  # arkit52's identity keys, FLAME's shape keys
CONSTANT = 1e-6  # a coefficient whose values span less than this over the training frames is constant


def constant_identity(names, rows):
    """{name: value} of the identity coefficients (``IDENTITY_NAME``) that are the same in
    every row of ``rows`` [N, C] (the training frames' coefficients in the order ``names``
    [C]); empty when there are no rows."""
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or len(rows) == 0:
        return {}
    if rows.shape[1] != len(names):
        raise ValueError(f"{rows.shape[1]} coefficients per row, {len(names)} names")
    span = rows.max(axis=0) - rows.min(axis=0)
    return {name: float(rows[0, i]) for i, name in enumerate(names)
            if IDENTITY_NAME.match(name) and span[i] < CONSTANT}


class HeldInputs:
    """The held inputs of one model, placed in its coefficient order."""

    def __init__(self, info, names):
        """``info``: the model file's info dict; ``names``: the model's coefficient names [C]."""
        held = dict((info or {}).get(HELD_KEY) or {})
        unknown = sorted(set(held) - set(names))
        if unknown:
            raise ValueError(f"held inputs {unknown[:4]} are not among the model's coefficients")
        self.names = [n for n in names if n in held]
        self.index = np.array([list(names).index(n) for n in self.names], dtype=np.int64)
        self.values = np.array([held[n] for n in self.names], dtype=np.float32)

    def __bool__(self):
        return len(self.names) > 0

    def apply(self, coefficients):
        """A copy of ``coefficients`` [..., C] (numpy or torch) with the held inputs set."""
        if not self:
            return coefficients
        if isinstance(coefficients, np.ndarray):
            out = coefficients.copy()
            out[..., self.index] = self.values.astype(out.dtype)
            return out
        import torch

        out = coefficients.clone()
        out[..., torch.from_numpy(self.index).to(out.device)] = torch.from_numpy(self.values).to(out.device, out.dtype)
        return out

    def describe(self):
        """One line for logs, or "" when nothing is held."""
        if not self:
            return ""
        return f"{len(self.names)} identity input(s) held at the identity the model was trained on"
