"""TrainConfig: every number of a training run (stored in ``RUN_DIR/config.json``)."""

import json
from dataclasses import asdict, dataclass, fields

from ..contract.errors import NeuralFaceError


@dataclass
class TrainConfig:
    steps: int = 100000  # total optimiser steps of the run
    batch: int = 4  # frames per step
    lr: float = 0.002  # Adam learning rate of the generator and discriminator
    encoder_lr_scale: float = 0.5  # the pass encoder (plain convs) learns at lr * this
    betas: tuple[float, float] = (0.5, 0.99)  # Adam betas (StyleGAN2 uses beta1 = 0; momentum helps the reconstruction-led run)
    rec_weight: float = 1.0  # multi-scale masked L1 against the rendered target
    rec_scales: int = 4  # L1 at full size and this many - 1 halvings
    feature_weight: float = 0.0  # extra L1 weight on eyes, lids, lips and brows (losses.feature_weights); 0 = plain mean
    adv_weight: float = 0.05  # non-saturating adversarial term (low: the CPU budget leans on reconstruction)
    adv_start: int = 200  # steps of reconstruction only before the discriminator starts
    r1_gamma: float = 1.0  # R1 penalty weight on real images
    r1_interval: int = 16  # lazy R1: every this many discriminator steps (scaled up accordingly)
    ema_beta: float = 0.995  # generator EMA decay per step (the cap; see ema_rampup)
    ema_start: int = 100  # before this step the EMA copies the generator
    ema_rampup: float = 0.05  # EMA half-life at most this share of the images seen (0 = off): short runs get a short EMA
    checkpoint_minutes: float = 5.0  # write a checkpoint at least this often (wall clock)
    checkpoint_every: int = 0  # also every this many steps (0 = only by time and at the end)
    sample_every: int = 200  # sample grid PNG every this many steps (0 = never)
    log_every: int = 10  # JSONL log line every this many steps
    seed: int = 0  # torch/numpy seed of the run (data order, latents, initial weights)
    d_channel_base: int = 2048  # discriminator width at resolution r: min(base // r, d_channel_max)
    d_channel_max: int = 128  # cap on discriminator widths
    appearance_dim: int = 16  # z size when the data carries no appearance record (random z)
    model: str = "default"  # "default" (bundled shape) or "tiny" (tests)
    resolution: int = 256  # model output side in pixels

    def __post_init__(self):
        self.betas = tuple(float(b) for b in self.betas)
        if self.steps < 0 or self.batch < 1 or self.lr <= 0:
            raise NeuralFaceError(f"bad training settings: steps={self.steps} batch={self.batch} lr={self.lr}")
        if self.model not in ("default", "tiny"):
            raise NeuralFaceError(f"model must be 'default' or 'tiny', got {self.model!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise NeuralFaceError(f"unknown training settings: {', '.join(unknown)}")
        return cls(**data)
