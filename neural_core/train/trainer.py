"""The training loop of the conditional face model, with EMA, checkpoints and resume.

Run folder::

    RUN_DIR/config.json        TrainConfig + ConditionalConfig (fixed at the first start)
    RUN_DIR/checkpoint.pt      training state: G, G_ema, D, optimisers, step, sampler and RNG
                               states (torch.save; read back with weights_only=True)
    RUN_DIR/ema.safetensors    the EMA model, ready for ``load_conditional``
    RUN_DIR/best.safetensors   the EMA model at the checkpoint with the lowest mean reconstruction loss
    RUN_DIR/log.jsonl          one JSON object per ``log_every`` steps
    RUN_DIR/samples/step_NNNNNNN.png   passes | target | EMA output, one row per sample
    RUN_DIR/preview.png        the latest of those grids

Per step: the generator gets the multi-scale masked L1 against the target plus
``adv_weight`` x the non-saturating loss (plus, with per-frame appearance codes, their L2
prior and, with ``colour_consistency``, how far one code's skin colour moves between two
frames' poses); the discriminator (after ``adv_start``) the logistic loss with lazy R1,
real and fake frames in one batch. Both judge only the head (images times the mask).
Forward passes run under ``precision.Precision`` (autocast); under torchrun the step is shared
by several processes (``distributed.py``) and only rank 0 writes files.
"""

import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..face_model import ConditionalModel
from ..face_model.config import ConditionalConfig
from ..contract.atomic import write_text_atomically
from ..contract.cancel import CancelToken
from ..contract.errors import NeuralFaceError
from . import checkpoints, losses, previews
from .checkpoints import CHECKPOINT  # re-exported: the actor workflow looks for it
from .batches import BatchReader
from .config import RESUME_CHANGEABLE, TrainConfig
from .dataset import FaceDataset, Sampler
from .discriminator import ConditionalDiscriminator
from .distributed import World
from .divergence import DeadDiscriminatorWatch, DivergenceWatch
from .model_setup import model_config_for, probe_config
from .precision import Precision
from .progress import Progress
from .timing import StepTimer
from .warm_start import warm_start

CONFIG = "config.json"


class Trainer:
    """Builds (or resumes) a run in ``run_dir`` on the data under ``data``."""

    def __init__(
        self,
        run_dir,
        data,
        train_config: TrainConfig | None = None,
        device="cpu",
        resume=False,
        log=None,
        changes: dict | None = None,
        world: World | None = None,
    ):
        """``changes``: on resume, settings to change from here on (only those in ``RESUME_CHANGEABLE``).
        ``world``: this process's place under torchrun (``distributed.start``); None = one process."""
        from ..generator.device import resolve_device

        self.run_dir = Path(run_dir)
        self.world = world or World()
        self.log = (log or (lambda message: None)) if self.world.main else (lambda message: None)
        self.device, self.device_note = resolve_device(device)
        self.clock = time.monotonic  # wall clock of the time budget, checkpoint timing and step times (tests replace it)
        config_path = self.run_dir / CONFIG
        resuming = resume and (self.run_dir / CHECKPOINT).is_file()
        if resuming:
            saved = json.loads(config_path.read_text())
            self.config = TrainConfig.from_dict(saved["train"])
            if train_config is not None:
                self.config.steps = train_config.steps
            changed = self._change_settings(changes or {})
            self.model_config = ConditionalConfig.from_dict(saved["model"])
        else:
            if (self.run_dir / CHECKPOINT).exists() and not resume:
                raise NeuralFaceError(f"{self.run_dir} already holds a run: pass --resume to continue it, or choose another --out")
            self.config = train_config or TrainConfig(**(changes or {}))  # --resume with no checkpoint yet starts the run
        torch.manual_seed(self.config.seed)
        self.dataset = FaceDataset(data, self.model_config if resuming else probe_config(self.config))
        if self.config.appearance_codes:  # one code per frame: the frame list is fixed for the run
            dropped = self.dataset.freeze(self.model_config.appearance_frames if resuming else None)
            if dropped:
                self.log(f"{len(dropped)} frames of the data have no appearance code in this run and are not used (first: {dropped[0]})")
        if not resuming:
            self.model_config = model_config_for(self.config, self.dataset)
        self.dataset.config = self.model_config
        self.code_index = None  # (folder, frame) -> row of the appearance codes, when the run learns them
        if self.model_config.appearance_code_dim:
            rows = {label: i for i, label in enumerate(self.model_config.appearance_frames)}
            self.code_index = {key: rows[self.dataset.label(key)] for key in self.dataset.keys}
        self.sampler = Sampler(self.dataset, self.config.seed)
        self.latents = torch.Generator().manual_seed(self.config.seed + 1)  # z when the data has no appearance
        self.batches = BatchReader(self.dataset, self.model_config.generator.z_dim, self.code_index, self.latents,
                                   self.world, self.device)

        self.G = ConditionalModel(self.model_config).train()
        if self.config.init and not resuming:
            self.log(warm_start(self.G, self.config.init))
        self.G = self.G.to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.D = ConditionalDiscriminator(
            self.model_config.generator.resolution,
            self.model_config.encoder.in_planes,
            self.model_config.generator.c_dim,
            self.config.d_channel_base,
            self.config.d_channel_max,
            equalized=self.config.d_equalized,
        ).to(self.device)
        betas = self.config.betas
        # learning rates: _apply_learning_rates, after any checkpoint is loaded
        groups = [{"params": list(self.G.generator.parameters())}, {"params": list(self.G.encoder.parameters())}]
        if self.G.appearance is not None:  # the map into W learns with the generator, the codes at their own rate
            groups[0]["params"].append(self.G.appearance.to_w.weight)
            groups.append({"params": [self.G.appearance.codes.weight]})
        self.opt_G = torch.optim.Adam(groups, betas=betas)
        r1_ratio = self.config.r1_interval / (self.config.r1_interval + 1)  # lazy regularisation correction
        # the discriminator keeps StyleGAN2's beta1 = 0: with momentum it diverged here (step 410 of a CPU run)
        self.opt_D = torch.optim.Adam(self.D.parameters(), betas=(0.0, betas[1] ** r1_ratio))
        self.precision = Precision(self.config.precision, self.device)
        self.step = 0
        self.d_steps = 0
        self.elapsed = 0.0  # training seconds over all sessions
        self.recent_rec = []  # reconstruction losses since the last checkpoint
        self.best_rec = float("inf")  # lowest mean reconstruction loss between two checkpoints so far
        self.watch = DivergenceWatch()  # a finite blow-up of the reconstruction loss stops the run
        self.d_watch = DeadDiscriminatorWatch()  # a discriminator stuck at 2 ln 2 is reported once per session
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resuming:
            self._load_checkpoint()
        self._apply_learning_rates()
        if self.world.main and not resuming:
            self._write(
                config_path, json.dumps({"train": json.loads(self.config.to_json()), "model": self.model_config.to_dict()}, indent=1)
            )
        elif self.world.main and changed:
            self._write(config_path, json.dumps({**saved, "train": json.loads(self.config.to_json())}, indent=1))
            self.log(f"changed on resume at step {self.step}: {changed}")
        self.sample_keys = sorted(self.dataset.keys)[: min(previews.ROWS, len(self.dataset.keys))]
        # what runs the steps: the modules themselves, or DistributedDataParallel around them (several processes)
        self.G_train = self.world.wrap(self.G, find_unused=True)
        self.D_train = self.world.wrap(self.D)

    def _change_settings(self, changes: dict) -> dict:
        """Apply resume-time changes to ``self.config``; returns {name: [old, new]} of those that differ."""
        fixed = sorted(set(changes) - RESUME_CHANGEABLE)
        if fixed:
            raise NeuralFaceError(
                f"{self.run_dir}: {', '.join(fixed)} cannot change on --resume (they shape the model or the "
                "data order); start a new run with another --out"
            )
        changed = {name: [getattr(self.config, name), value] for name, value in changes.items() if getattr(self.config, name) != value}
        if changed:
            self.config = dataclasses.replace(self.config, **changes)
        return changed

    def learning_rate(self) -> float:
        """The base learning rate at this step (the generator's; the others scale it): ``lr``, times
        ``lr_drop`` from ``lr_drop_step`` on."""
        cfg = self.config
        return cfg.lr * (cfg.lr_drop if 0 < cfg.lr_drop_step <= self.step else 1.0)

    def _apply_learning_rates(self):
        """Set the optimisers' learning rates from the config and the step (a loaded checkpoint
        brings its own; a resume may have changed ``lr``). The discriminator's is scaled for lazy R1."""
        lr = self.learning_rate()
        generator, encoder, *codes = self.opt_G.param_groups
        generator["lr"], encoder["lr"] = lr, lr * self.config.encoder_lr_scale
        for group in codes:
            group["lr"] = lr * self.config.appearance_lr_scale
        for group in self.opt_D.param_groups:
            group["lr"] = lr * self.config.r1_interval / (self.config.r1_interval + 1)

    # -- one step ------------------------------------------------------------------------
    def train_step(self) -> dict:
        """One generator step (and discriminator step after ``adv_start``); returns the losses
        (averaged over the processes)."""
        cfg = self.config
        planes, c, z, appearance, target, mask = self.batches.read(self.sampler.next_keys(cfg.batch))
        adversarial = cfg.adv_weight > 0 and self.step >= cfg.adv_start
        precision = self.precision
        out = {}
        # generator
        self.D.requires_grad_(False)
        consistency = (appearance is not None and cfg.colour_consistency > 0 and len(appearance) > 1
                       and self.step % cfg.colour_consistency_every == 0)
        with precision.autocast():
            if consistency:  # one forward of 2N frames: the batch, then each frame with its neighbour's code
                both = self.G_train(torch.cat([planes, planes]), torch.cat([c, c]), torch.cat([z, z]),
                                    appearance=torch.cat([appearance, appearance.roll(1, 0)])).float()
                fake, moved = both[: len(planes)], both[len(planes):]
            else:
                fake = self.G_train(planes, c, z, **({} if appearance is None else {"appearance": appearance})).float()
        total_area = self.world.total_area if self.world.size > 1 else None
        rec = losses.masked_l1(fake, target, mask, cfg.rec_scales, self._loss_weights(planes), total_area=total_area)
        loss = cfg.rec_weight * rec
        out["rec"] = float(rec.detach())
        if appearance is not None and cfg.appearance_prior > 0:
            prior = self.G.appearance.codes(appearance).square().sum(dim=1).mean()
            loss = loss + cfg.appearance_prior * prior
            out["prior"] = float(prior.detach())
        if consistency:  # frame i with code i-1 against frame i-1's own output (held): same look, same skin colour
            skin = self._skin(planes) * mask
            gap = losses.skin_colour_gap(moved, skin, fake.detach().roll(1, 0), skin.roll(1, 0))
            loss = loss + cfg.colour_consistency * cfg.colour_consistency_every * gap
            out["colour"] = float(gap.detach())
        if adversarial:
            with precision.autocast():
                logits = self.D(fake * mask, planes, c).float()  # D's weights frozen: not through DDP
            adv = losses.generator_adversarial(logits)
            loss = loss + cfg.adv_weight * adv
            out["g_adv"] = float(adv.detach())
        self.opt_G.zero_grad(set_to_none=True)
        precision.backward(loss, "G")
        precision.step(self.opt_G, "G")
        self.world.average_buffers(self.G)
        # discriminator: real and fake frames in one batch (one forward through DDP per step)
        if adversarial:
            self.D.requires_grad_(True)
            real = (target * mask).detach()
            regularise = self.d_steps % cfg.r1_interval == 0 and cfg.r1_gamma > 0
            if regularise:
                real.requires_grad_(True)
            count = real.shape[0]
            with precision.autocast():
                logits = self.D_train(torch.cat([real, (fake * mask).detach()]), torch.cat([planes, planes]), torch.cat([c, c])).float()
            real_logits, fake_logits = logits[:count], logits[count:]
            d_loss = losses.discriminator_adversarial(real_logits, fake_logits)
            out["d"] = float(d_loss.detach())
            if regularise:
                r1 = losses.r1_penalty(real_logits, real, scale=precision.scale("D"))
                d_loss = d_loss + cfg.r1_gamma * 0.5 * r1 * cfg.r1_interval
                out["r1"] = float(r1.detach())
                if precision.scaling and not np.isfinite(out["r1"]):
                    out["r1"] = 0.0  # float16: the scaled gradient overflowed; the scaler skips this step and lowers its scale
            self.opt_D.zero_grad(set_to_none=True)
            precision.backward(d_loss, "D")
            precision.step(self.opt_D, "D")
            self.d_steps += 1
        self._update_ema()
        self.step += 1
        return self.world.mean(out)

    def _skin(self, planes):
        """[N, 1, H, W] the skin region plane (region 0 of the one-hot regions, the last planes)."""
        encoder = self.model_config.encoder
        if "regions" not in encoder.passes or encoder.passes[-1] != "regions":
            raise NeuralFaceError("colour_consistency needs the regions pass, last in the encoder's passes")
        first = encoder.in_planes - encoder.num_regions
        return planes[:, first:first + 1]

    def _loss_weights(self, planes):
        """Per-pixel reconstruction weights [N, 1, H, W], or None for the plain masked mean."""
        encoder = self.model_config.encoder
        if not self.config.feature_weight or "regions" not in encoder.passes:
            return None
        first = encoder.in_planes - encoder.num_regions  # regions are the last planes (inputs.pass_planes order)
        if encoder.passes[-1] != "regions":
            raise NeuralFaceError("feature_weight needs the region planes last in the encoder's passes")
        return losses.feature_weights(planes[:, first:], self.config.feature_weight)

    @torch.no_grad()
    def _update_ema(self):
        cfg = self.config
        beta = cfg.ema_beta if self.step >= cfg.ema_start else 0.0
        if cfg.ema_rampup > 0 and beta > 0:  # half-life <= ema_rampup x images seen (as NVlabs' ramp-up)
            half_life = cfg.ema_rampup * (self.step + 1) * cfg.batch  # images
            beta = min(beta, 0.5 ** (cfg.batch / half_life))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # -- the loop ------------------------------------------------------------------------
    def run(self, max_minutes: float = 0.0, progress: Progress | None = None) -> int:
        """Train until ``config.steps`` (or ``max_minutes`` of wall time, or SIGINT/SIGTERM); checkpoints on the way out.

        Under torchrun every process stops at the same step (the stop is agreed before each
        step) and rank 0 alone logs, draws previews and writes checkpoints. A non-finite
        loss, or a finite blow-up of the reconstruction loss (``divergence.DivergenceWatch``),
        raises NeuralFaceError without writing: the last checkpoint and ``best.safetensors``
        stay as they were.
        """
        cfg = self.config
        token = CancelToken().__enter__()  # the contract's SIGINT/SIGTERM flag (only the main thread installs it)
        progress = progress if self.world.main else None
        main = self.world.main
        started = self.clock()
        last_checkpoint = started
        timer = StepTimer(self.clock).__enter__()  # a step that held a SIGSTOP pause counts as a usual one
        try:
            while self.step < cfg.steps:
                out_of_time = bool(max_minutes) and self.clock() - started - timer.paused >= max_minutes * 60
                if self.world.any(out_of_time or token.cancelled):
                    if out_of_time:
                        self.log(f"time limit of {max_minutes} min reached at step {self.step}")
                    break
                if self.step == cfg.lr_drop_step > 0:
                    self._apply_learning_rates()
                    self.log(f"step {self.step}: learning rate {cfg.lr:g} -> {self.learning_rate():g} (lr_drop)")
                timer.start()
                out = self.train_step()
                if not all(np.isfinite(v) for v in out.values()):
                    raise NeuralFaceError(
                        f"training diverged at step {self.step} (losses {out}); the last checkpoint and "
                        "best.safetensors are kept: resume with a lower --lr or --adv-weight"
                    )
                diverged = self.watch.update(out["rec"])
                if diverged:
                    raise NeuralFaceError(
                        f"training diverged at step {self.step}: {diverged}. Stopped without a checkpoint: the last one and "
                        "best.safetensors are kept; resume with a lower --lr or --adv-weight"
                    )
                stuck = self.d_watch.update(out["d"]) if "d" in out else None
                if stuck:
                    self.log(f"warning at step {self.step}: {stuck}")
                self.recent_rec.append(out["rec"])
                seconds = timer.stop()
                self.elapsed += seconds
                if progress is not None:
                    deadline = max_minutes * 60 - (self.clock() - started - timer.paused) if max_minutes else None
                    progress.update(self.step, out, seconds, deadline)
                if main and cfg.log_every and self.step % cfg.log_every == 0:
                    self._log_line(out, seconds)
                if main and cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.save_samples()
                due = self.clock() - last_checkpoint >= cfg.checkpoint_minutes * 60
                if due or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                    self.save_checkpoint()
                    last_checkpoint = self.clock()
        finally:
            timer.__exit__(None, None, None)
            token.__exit__(None, None, None)
            if progress is not None:
                progress.close()
            self.batches.shutdown()  # the reading threads end with the run (a later run starts new ones)
        self.save_checkpoint()
        if token.cancelled:
            self.log(f"stopped by {token.signal_name} at step {self.step}; resume with --resume")
        return self.step

    def _log_line(self, out, seconds):
        line = {
            "step": self.step,
            "time": time.time(),
            "train_seconds": round(self.elapsed, 2),
            "step_seconds": round(seconds, 3),
            "frames": len(self.dataset),
            "epoch": self.sampler.epoch,
            **{k: round(v, 6) for k, v in out.items()},
        }
        with open(self.run_dir / "log.jsonl", "a") as handle:
            handle.write(json.dumps(line) + "\n")

    # -- checkpoints (checkpoints.py) ------------------------------------------------------
    def state(self) -> dict:
        return checkpoints.training_state(self)

    def save_checkpoint(self):
        """checkpoint.pt, ema.safetensors and (a new lowest mean loss) best.safetensors; rank 0 only."""
        checkpoints.save(self)

    def info(self) -> dict:
        return {
            "steps": self.step,
            "train_seconds": round(self.elapsed, 1),
            "frames": len(self.dataset),
            "batch": self.config.batch,
            "device": str(self.device),
            "precision": self.precision.name,
            **({"processes": self.world.size} if self.world.size > 1 else {}),
            **self._held_inputs(),
        }

    def _held_inputs(self) -> dict:
        """{"held_inputs": {name: value}} of the identity inputs constant over the training
        frames (face_model/held_inputs.py), or {} when none; computed once the frames are fixed."""
        from ..face_model.held_inputs import HELD_KEY, constant_identity

        if getattr(self, "_held_cache", None) is None or not self.dataset.frozen:
            held = constant_identity(self.model_config.coefficient_names, self.dataset.coefficient_rows())
            self._held_cache = {HELD_KEY: held} if held else {}
        return self._held_cache

    def _load_checkpoint(self):
        checkpoints.load(self)

    @staticmethod
    def _write(path, text):
        write_text_atomically(path, text)

    # -- preview grids -------------------------------------------------------------------
    def save_samples(self, path=None):
        """PNG grid: per row the normal pass, the target and the EMA output (``previews.py``)."""
        return previews.save_grid(self, path)

    def _fixed_batch(self):
        return previews.fixed_batch(self)

