"""A run's checkpoint: the whole training state in ``RUN_DIR/checkpoint.pt``, the EMA model in
``ema.safetensors`` and ``best.safetensors``.

``checkpoint.pt`` is ``torch.save`` of plain tensors, numbers and strings (read back with
``weights_only=True``, nothing unpickled): G, G_ema, D, both optimisers, the step counters,
the sampler's order and RNG (JSON), torch's and the latents' RNG states, the float16 loss
scalers. With it a resumed run continues exactly as if never stopped. Every file is written
to a temporary name and renamed. Under torchrun only rank 0 writes.
"""

import json

import numpy as np
import torch

from ..contract.atomic import write_atomically
from ..contract.errors import CheckpointError
from ..face_model import save_conditional

CHECKPOINT = "checkpoint.pt"


def training_state(trainer) -> dict:
    """Everything a resume needs, as a dict ``torch.load(weights_only=True)`` can read back."""
    return {
        "G": trainer.G.state_dict(), "G_ema": trainer.G_ema.state_dict(), "D": trainer.D.state_dict(),
        "opt_G": trainer.opt_G.state_dict(), "opt_D": trainer.opt_D.state_dict(),
        "step": trainer.step, "d_steps": trainer.d_steps, "elapsed": trainer.elapsed,
        "best_rec": trainer.best_rec, "recent_rec": list(trainer.recent_rec),
        "divergence": json.dumps(trainer.watch.state()),
        "sampler": json.dumps(trainer.sampler.state()),
        "torch_rng": torch.get_rng_state(), "latents_rng": trainer.latents.get_state(),
        "scalers": trainer.precision.state_dict(),
    }


def save(trainer):
    """Write checkpoint.pt and ema.safetensors, each to a temporary name then renamed.

    ``best.safetensors`` also gets the EMA model when the mean reconstruction loss since
    the previous checkpoint is the lowest so far (a run that goes bad keeps its best).
    Only rank 0 writes; the other processes just forget their recent losses.
    """
    if not trainer.world.main:
        trainer.recent_rec = []
        return
    run_dir = trainer.run_dir
    if trainer.recent_rec:
        mean = float(np.mean(trainer.recent_rec))
        trainer.recent_rec = []
        if mean < trainer.best_rec:
            trainer.best_rec = mean
            save_conditional(trainer.G_ema, run_dir / "best.safetensors", info={**trainer.info(), "mean_rec": round(mean, 5)})
    path = run_dir / CHECKPOINT
    state = training_state(trainer)
    write_atomically(path, lambda temporary: torch.save(state, temporary))
    save_conditional(trainer.G_ema, run_dir / "ema.safetensors", info=trainer.info())
    trainer.log(f"checkpoint at step {trainer.step} ({run_dir})")


def load(trainer):
    """Restore ``trainer`` (built for the same run) from its checkpoint.pt; CheckpointError if unusable."""
    path = trainer.run_dir / CHECKPOINT
    try:
        # read to the CPU: the RNG states must stay CPU byte tensors (a CUDA resume failed with
        # "RNG state must be a torch.ByteTensor"); load_state_dict moves weights and optimiser state
        state = torch.load(path, map_location="cpu", weights_only=True)
        trainer.G.load_state_dict(state["G"])
        trainer.G_ema.load_state_dict(state["G_ema"])
        trainer.D.load_state_dict(state["D"])
        trainer.opt_G.load_state_dict(state["opt_G"])
        trainer.opt_D.load_state_dict(state["opt_D"])
    except (RuntimeError, KeyError, OSError, EOFError) as error:
        raise CheckpointError(f"{path}: cannot resume from this checkpoint ({error})") from error
    trainer.step, trainer.d_steps, trainer.elapsed = int(state["step"]), int(state["d_steps"]), float(state["elapsed"])
    trainer.best_rec = float(state.get("best_rec", float("inf")))
    trainer.recent_rec = [float(v) for v in state.get("recent_rec", [])]
    if "divergence" in state:  # checkpoints before the watch existed start it afresh
        trainer.watch.load(json.loads(state["divergence"]))
    trainer.sampler.restore(json.loads(state["sampler"]))
    torch.set_rng_state(state["torch_rng"])
    trainer.latents.set_state(state["latents_rng"])
    trainer.precision.load_state_dict(state.get("scalers"))
    trainer.log(f"resumed {trainer.run_dir} at step {trainer.step}")
