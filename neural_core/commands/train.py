"""``python -m neural_core train --data DIR --out RUN_DIR [--preset P] [--resume] [--steps N] [--minutes M] ...``.

Trains the conditional face model on sample folders (``tools/make_dataset.py``);
checkpoints every few minutes, at the end of ``--minutes`` and on SIGINT/SIGTERM, resumes
with ``--resume``. Under ``torchrun --nproc_per_node N -m neural_core train ...`` the
processes share each step (``train/distributed.py``). See ``neural_core/train/trainer.py``
for the run folder's contents, ``docs/training.md`` for presets and appearance codes, and
``docs/default-model.md`` for how the bundled model was trained.
"""

import sys

from ..train.config import MODELS, PRECISIONS, PRESETS

HELP = "Train the conditional face model on rendered sample folders (checkpoints, --resume, logs, sample grids)."


def add_arguments(parser):
    parser.add_argument("--data", required=True, action="append", help="sample folder, or a folder of them (repeatable)")
    parser.add_argument("--out", required=True, help="run folder (config, checkpoint, EMA weights, log, samples)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--steps", type=int, default=None, help="total steps of the run (default 100000)")
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="settings of a new actor-model run: cpu-256 (CPU, 256 px) or cuda-512 (GPU, 512 px, mixed precision); "
        "options given explicitly win",
    )
    parser.add_argument(
        "--minutes",
        "--max-minutes",
        dest="max_minutes",
        type=float,
        default=0.0,
        help="time budget: stop cleanly (with a checkpoint) after this much wall time; --resume continues",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = torch's default)")
    parser.add_argument("--batch", type=int, default=None, help="frames per step (default 4)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 0.002)")
    parser.add_argument("--lr-drop-step", type=int, default=None,
                        help="from this step on, the learning rates times --lr-drop (default 0: never)")
    parser.add_argument("--lr-drop", type=float, default=None, help="factor of the learning rates after --lr-drop-step (default 0.4)")
    parser.add_argument("--adv-weight", type=float, default=None, help="weight of the adversarial term (default 0.05)")
    parser.add_argument(
        "--adv-start", type=int, default=None, help="reconstruction-only steps before the discriminator starts (default 200)"
    )
    parser.add_argument(
        "--feature-weight", type=float, default=None, help="extra reconstruction weight on eyes, lids, lips and brows (default 0)"
    )
    parser.add_argument("--r1-gamma", type=float, default=None, help="R1 weight (default 1.0)")
    parser.add_argument("--checkpoint-minutes", type=float, default=None, help="checkpoint at least this often (default 5)")
    parser.add_argument("--sample-every", type=int, default=None, help="sample grid every N steps (default 200)")
    parser.add_argument("--log-every", type=int, default=None, help="a line in RUN_DIR/log.jsonl every N steps (default 10)")
    parser.add_argument("--seed", type=int, default=None, help="run seed (default 0)")
    parser.add_argument("--model", choices=MODELS, default=None, help="model shape (default; wide: for GPUs; tiny: for tests)")
    parser.add_argument("--resolution", type=int, default=None, help="model resolution (default 256)")
    parser.add_argument(
        "--appearance-codes",
        type=int,
        default=None,
        help="learn an appearance code of this size per training frame (lighting, exposure; 0 = off, the default)",
    )
    parser.add_argument("--appearance-prior", type=float, default=None, help="L2 prior weight on the appearance codes (default 0.001)")
    parser.add_argument("--colour-consistency", type=float, default=None,
                        help="weight of the skin colour consistency term (appearance codes and the regions pass; default 0 = off)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="autocast dtype: float32 (default), bfloat16, float16 (CUDA, with loss scaling) or auto",
    )
    parser.add_argument("--init", default=None,
                        help="a new run's starting generator and encoder: 'default' (the bundled model) or a model file of the same shape")
    parser.add_argument("--export", default=None, help="after training, write the EMA weights here as fp16 safetensors")


OPTIONS = {
    "steps": "steps",
    "batch": "batch",
    "lr": "lr",
    "lr_drop_step": "lr_drop_step",
    "lr_drop": "lr_drop",
    "adv_weight": "adv_weight",
    "adv_start": "adv_start",
    "r1_gamma": "r1_gamma",
    "feature_weight": "feature_weight",
    "checkpoint_minutes": "checkpoint_minutes",
    "sample_every": "sample_every",
    "log_every": "log_every",
    "seed": "seed",
    "model": "model",
    "resolution": "resolution",
    "appearance_codes": "appearance_codes",
    "appearance_prior": "appearance_prior",
    "colour_consistency": "colour_consistency",
    "precision": "precision",
    "init": "init",
}


def run(args) -> int:
    import torch

    from ..contract.errors import NeuralFaceError
    from ..face_model import save_conditional
    from ..train import distributed
    from ..train.config import TrainConfig, preset_config
    from ..train.progress import Progress
    from ..train.trainer import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = {field: getattr(args, option) for option, field in OPTIONS.items() if getattr(args, option) is not None}
    if args.preset and args.resume:
        raise NeuralFaceError("--preset chooses a new run's settings; a resumed run keeps its own (change single options instead)")
    # a new run takes the chosen settings (over the preset's); a resumed one keeps its own and changes only those given
    config = None if args.resume else (preset_config(args.preset, **chosen) if args.preset else TrainConfig(**chosen))
    changes = chosen if args.resume else None
    world, device = distributed.start(args.device)

    def log(message):
        if world.main:
            print(message, file=sys.stderr, flush=True)

    try:
        trainer = Trainer(args.out, args.data, config, device=device, resume=args.resume, log=log, changes=changes, world=world)
        processes = f"; {world.size} processes, {trainer.config.batch // world.size} frames each per step" if world.size > 1 else ""
        log(f"{trainer.device_note}; precision {trainer.precision.name}{processes}")
        log(
            f"{len(trainer.dataset)} frames in {len(trainer.dataset.folders)} sample folders; step {trainer.step} of {trainer.config.steps}"
        )
        trainer.run(args.max_minutes, Progress(trainer.config.steps))
        if args.export and world.main:
            save_conditional(trainer.G_ema, args.export, info=trainer.info(), dtype="float16")
            log(f"exported the EMA weights (fp16) to {args.export}")
    finally:
        distributed.stop(world)
    return 0
