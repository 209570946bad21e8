"""TrainConfig: every number of a training run (stored in ``RUN_DIR/config.json``)."""

import json
from dataclasses import asdict, dataclass, fields

from ..contract.errors import NeuralFaceError

MODELS = ("default", "wide", "tiny")
# settings a resumed run may change (the rest shape the model, its data order or its optimiser state)
RESUME_CHANGEABLE = frozenset(
    {
        "steps",
        "batch",
        "lr",
        "lr_drop_step",
        "lr_drop",
        "adv_weight",
        "adv_start",
        "r1_gamma",
        "rec_weight",
        "feature_weight",
        "checkpoint_minutes",
        "checkpoint_every",
        "sample_every",
        "log_every",
        "precision",
        "appearance_prior",
        "appearance_lr_scale",
        "colour_consistency",
        "colour_consistency_every",
    }
)
PRECISIONS = ("float32", "bfloat16", "float16", "auto")  # auto: bfloat16 on CUDA cards that have it, else float16; CPU float32

# ``--preset``: a starting point for a new run (explicit options still win). Both train actor
# models: appearance codes and the adversarial term on (after reconstruction-only steps; the
# discriminator keeps beta1 = 0; a diverging run stops and keeps best.safetensors).
# cpu-256 starts from the bundled model (warm_start.py) at a fine-tuning lr: from random weights
# a 2-hour CPU run reached 13.5 dB on the synthetic actor and then diverged; warm, 150 steps gave 18.4.
# Its lr drops to a fifth after step 3,222 (about 75 of a 2-hour budget on 2 cores): of five recipes
# compared side by side on a GPU (docs/training.md), lr 0.001 then 0.0002 gave the best actor model.
# At lr 0.001 the plain discriminator died on the CPU (its loss stuck at 2 ln 2 from the first steps
# of the adversarial term); with the equalized learning rate it learns.
# Codes learn at lr x 40: each frame's code moves only when its frame is drawn (once per epoch).
# It ends at step 5,451, the schedule measured (docs/actor.md: about 100 minutes on 2 cores; on a GPU
# every variant tried scored a little better at step 3,590 than at 5,451, so longer is not better).
PRESETS = {
    "cpu-256": dict(resolution=256, model="default", batch=4, precision="float32", appearance_codes=16, adv_weight=0.02,
                    adv_start=1000, sample_every=200, checkpoint_minutes=5.0, init="default", steps=5451, lr=0.001, lr_drop_step=3222,
                    lr_drop=0.2, d_equalized=True, appearance_lr_scale=40.0, feature_weight=4.0),
    "cuda-512": dict(resolution=512, model="wide", batch=16, precision="auto", appearance_codes=16, adv_weight=0.1,
                     adv_start=1000, r1_gamma=2.0, d_channel_base=16384, d_channel_max=512, d_equalized=True, sample_every=500,
                     checkpoint_minutes=10.0),
}


def preset_config(name: str, **overrides) -> "TrainConfig":
    """The TrainConfig of preset ``name`` with ``overrides`` applied."""
    if name not in PRESETS:
        raise NeuralFaceError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    settings = {**PRESETS[name], **overrides}
    reshaped = any(key in overrides and overrides[key] != PRESETS[name].get(key) for key in ("model", "resolution"))
    if reshaped and "init" not in overrides:
        settings["init"] = ""  # the preset's starting model has the preset's shape, not the one asked for
    return TrainConfig(**settings)


@dataclass
class TrainConfig:
    steps: int = 100000  # total optimiser steps of the run
    batch: int = 4  # frames per step
    lr: float = 0.002  # Adam learning rate of the generator and discriminator
    # from this step on every learning rate is lr x lr_drop: a finer second phase (0 = never)
    lr_drop_step: int = 0
    lr_drop: float = 0.4  # the factor of that second phase (0 < lr_drop <= 1)
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
    # equalized learning rate in the discriminator (discriminator.py): needed by wide ones (the
    # cuda-512 preset's 512 channels blew up without it); off by default, as runs before it were
    d_equalized: bool = False
    appearance_dim: int = 16  # z size when the data carries no appearance record (random z)
    appearance_codes: int = 0  # size of a learnt appearance code per training frame (0 = off: z from the data, else random)
    appearance_prior: float = 0.001  # L2 prior on the codes: weight x mean over the batch of |code|^2
    appearance_lr_scale: float = 10.0  # the codes learn at lr x this (a frame's code only moves when the frame is drawn)
    # weight of the skin colour consistency term (codes on, regions pass last): each frame is also
    # rendered with its batch neighbour's code, and its mean skin colour (log chromaticity) is pulled
    # to the neighbour's own output's: one look, one skin colour whatever the rig does (0 = off)
    colour_consistency: float = 0.0
    colour_consistency_every: int = 4  # apply it every this many steps (its weight scaled up accordingly)
    model: str = "default"  # "default" (bundled shape), "wide" (GPU) or "tiny" (tests)
    resolution: int = 256  # model output side in pixels
    precision: str = "float32"  # autocast dtype of the forward passes: float32, bfloat16, float16 (CUDA) or auto
    init: str = ""  # a new run's generator and encoder: "" random, "default" the bundled model, or a model file (warm_start.py)

    def __post_init__(self):
        self.betas = tuple(float(b) for b in self.betas)
        if self.steps < 0 or self.batch < 1 or self.lr <= 0:
            raise NeuralFaceError(f"bad training settings: steps={self.steps} batch={self.batch} lr={self.lr}")
        if self.model not in MODELS:
            raise NeuralFaceError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.precision not in PRECISIONS:
            raise NeuralFaceError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.lr_drop_step < 0 or not 0 < self.lr_drop <= 1:
            raise NeuralFaceError(f"bad learning-rate drop: from step {self.lr_drop_step}, factor {self.lr_drop} "
                                  "(a step >= 0, a factor in (0, 1])")
        if self.colour_consistency < 0 or self.colour_consistency_every < 1:
            raise NeuralFaceError(f"bad colour consistency settings: weight {self.colour_consistency}, "
                                  f"every {self.colour_consistency_every} steps")
        if self.appearance_codes < 0 or self.appearance_prior < 0:
            raise NeuralFaceError(f"bad appearance code settings: size {self.appearance_codes}, prior {self.appearance_prior}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise NeuralFaceError(f"unknown training settings: {', '.join(unknown)}")
        return cls(**data)
