"""The watch that stops a training run gone bad while its losses stay finite.

A run whose losses stay finite can still blow up (a CPU actor run went from
a reconstruction loss of 0.12 to 4,400 within 40 steps, the adversarial term to 1e13).
:class:`DivergenceWatch` compares the median reconstruction loss of the last ``window``
steps with the lowest such median seen so far; ``factor`` times higher stops the run
(the trainer raises, keeping its last checkpoint and ``best.safetensors``). A single
spike does not trip it: the default model's run had one-step spikes it recovered from.
"""

from collections import deque

import numpy as np


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
