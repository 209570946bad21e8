"""Preview grids of a training run: the current EMA outputs next to their targets.

``RUN_DIR/samples/step_NNNNNNN.png`` every ``sample_every`` steps, and a copy of the
latest as ``RUN_DIR/preview.png``: one row per sample frame (the first frames of the
data, at most 8), columns normal pass | target | EMA output (on grey outside the mask).
"""

from pathlib import Path

import numpy as np
import torch

from ..contract.atomic import write_atomically

PREVIEW = "preview.png"
ROWS = 8  # sample frames in a grid


def fixed_batch(trainer):
    """The grid's inputs: planes, c, z, appearance (code indices or None), target, mask.

    z comes from the data or a fixed seed (1234) when the run has no codes, else it is 0
    and each frame shows its own learnt code."""
    keys = trainer.sample_keys
    samples = [trainer.dataset.load(k) for k in keys]
    z_dim = trainer.model_config.generator.z_dim
    if trainer.code_index is not None:
        zs = [torch.zeros([z_dim]) for _ in samples]
        appearance = torch.tensor([trainer.code_index[k] for k in keys], dtype=torch.int64, device=trainer.device)
    else:
        fixed = torch.Generator().manual_seed(1234)
        zs = [torch.from_numpy(s["z"]) if s["z"] is not None else torch.randn([z_dim], generator=fixed) for s in samples]
        appearance = None
    stack = lambda name: torch.from_numpy(np.stack([s[name] for s in samples])).to(trainer.device)  # noqa: E731
    return stack("planes"), stack("coefficients"), torch.stack(zs).to(trainer.device), appearance, stack("target"), stack("mask")


@torch.no_grad()
def save_grid(trainer, path=None) -> Path:
    """Write the grid (atomically) to ``path`` or the run's samples folder, and ``preview.png``."""
    from PIL import Image

    planes, c, z, appearance, target, mask = fixed_batch(trainer)
    options = {} if appearance is None else {"appearance": appearance}
    rgba = trainer.G_ema.rgba(planes, c, z, **options)
    grey = torch.full_like(rgba[:, :3], 0.5)
    output = rgba[:, :3] * rgba[:, 3:] + grey * (1 - rgba[:, 3:])
    normal = (planes[:, :3] * 0.5 + 0.5) if trainer.model_config.encoder.passes[0] == "normal" else grey
    target = (target + 1) * 0.5
    rows = [torch.cat([normal[i], target[i], output[i]], dim=2) for i in range(len(rgba))]
    grid = torch.cat(rows, dim=1).clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    path = Path(path) if path else trainer.run_dir / "samples" / f"step_{trainer.step:07d}.png"
    targets = [path] if path.parent != trainer.run_dir / "samples" else [path, trainer.run_dir / PREVIEW]
    for destination in targets:
        destination.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(destination, lambda temporary: Image.fromarray(grid).save(temporary, format="PNG"))
    return path
