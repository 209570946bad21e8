"""The watch that stops a training run gone bad while its losses stay finite.

A run whose losses stay finite can still blow up (a CPU actor run went from
a reconstruction loss of 0.12 to 4,400 within 40 steps, the adversarial term to 1e13).
:class:`DivergenceWatch` compares the median reconstruction loss of the last ``window``
steps with the lowest such median seen so far; ``factor`` times higher stops the run
(the trainer raises, keeping its last checkpoint and ``best.safetensors``). A single
spike does not trip it: the default model's run had one-step spikes it recovered from.

A discriminator can also die without any loss blowing up: at lr 0.001 the plain one of the
cpu-256 preset did, its logits 0 for real and fake alike, so its loss sat at 2 ln 2 and the
adversarial term was off in effect (docs/training.md). :class:`DeadDiscriminatorWatch` says so
once, so the run's log and progress show it.
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


class DeadDiscriminatorWatch:
    """Notices a discriminator whose loss stays at 2 ln 2 (it tells nothing apart)."""

    LOSS_OF_NOTHING = 2.0 * np.log(2.0)  # the non-saturating loss of logits 0 on real and fake

    def __init__(
        self,
        window: int = 200,  # discriminator steps in the median
        tolerance: float = 0.005,  # a median distance from 2 ln 2 below this is "stuck"
    ):
        self.window, self.tolerance = window, tolerance
        self.recent = deque(maxlen=window)
        self.told = False

    def update(self, d_loss: float) -> str | None:
        """Record one discriminator loss; a message the first time the last ``window`` sat at 2 ln 2."""
        if self.told:
            return None
        self.recent.append(abs(float(d_loss) - self.LOSS_OF_NOTHING))
        if len(self.recent) < self.window or float(np.median(self.recent)) >= self.tolerance:
            return None
        self.told = True
        return (f"the discriminator has stopped learning: its loss has stayed at 2 ln 2 = {self.LOSS_OF_NOTHING:.3f} "
                f"over the last {self.window} steps, so the adversarial term does nothing; resume with a lower --lr, "
                "or start a run with d_equalized")
