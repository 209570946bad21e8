"""``python -m neural_core train --data DIR --out RUN_DIR [--resume] [--steps N] ...``.

Trains the conditional face model on sample folders (``tools/make_dataset.py``);
checkpoints every few minutes and on SIGINT/SIGTERM, resumes with ``--resume``. See
``neural_core/train/trainer.py`` for the run folder's contents and ``docs/default-model.md``
for how the bundled model was trained.
"""

import sys

HELP = "Train the conditional face model on rendered sample folders (checkpoints, --resume, logs, sample grids)."


def add_arguments(parser):
    parser.add_argument("--data", required=True, action="append", help="sample folder, or a folder of them (repeatable)")
    parser.add_argument("--out", required=True, help="run folder (config, checkpoint, EMA weights, log, samples)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--steps", type=int, default=None, help="total steps of the run (default 100000)")
    parser.add_argument("--max-minutes", type=float, default=0.0, help="stop (with a checkpoint) after this much wall time")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = torch's default)")
    parser.add_argument("--batch", type=int, default=None, help="frames per step (default 4)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 0.002)")
    parser.add_argument("--adv-weight", type=float, default=None, help="weight of the adversarial term (default 0.05)")
    parser.add_argument("--adv-start", type=int, default=None, help="reconstruction-only steps before the discriminator starts (default 200)")
    parser.add_argument("--feature-weight", type=float, default=None,
                        help="extra reconstruction weight on eyes, lids, lips and brows (default 0)")
    parser.add_argument("--r1-gamma", type=float, default=None, help="R1 weight (default 1.0)")
    parser.add_argument("--checkpoint-minutes", type=float, default=None, help="checkpoint at least this often (default 5)")
    parser.add_argument("--sample-every", type=int, default=None, help="sample grid every N steps (default 200)")
    parser.add_argument("--seed", type=int, default=None, help="run seed (default 0)")
    parser.add_argument("--model", choices=("default", "tiny"), default=None, help="model shape (tiny: for tests)")
    parser.add_argument("--resolution", type=int, default=None, help="model resolution (default 256)")
    parser.add_argument("--export", default=None, help="after training, write the EMA weights here as fp16 safetensors")


OPTIONS = {"steps": "steps", "batch": "batch", "lr": "lr", "adv_weight": "adv_weight", "adv_start": "adv_start",
           "r1_gamma": "r1_gamma", "feature_weight": "feature_weight", "checkpoint_minutes": "checkpoint_minutes", "sample_every": "sample_every",
           "seed": "seed", "model": "model", "resolution": "resolution"}


def run(args) -> int:
    import torch

    from ..face_model import save_conditional
    from ..train.config import TrainConfig
    from ..train.progress import Progress
    from ..train.trainer import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = {field: getattr(args, option) for option, field in OPTIONS.items() if getattr(args, option) is not None}
    # a new run takes the chosen settings; a resumed one keeps its own and changes only those given
    config = None if args.resume else TrainConfig(**chosen)
    changes = chosen if args.resume else None

    def log(message):
        print(message, file=sys.stderr, flush=True)

    trainer = Trainer(args.out, args.data, config, device=args.device, resume=args.resume, log=log, changes=changes)
    log(trainer.device_note)
    log(f"{len(trainer.dataset)} frames in {len(trainer.dataset.folders)} sample folders; step {trainer.step} of {trainer.config.steps}")
    trainer.run(args.max_minutes, Progress(trainer.config.steps))
    if args.export:
        save_conditional(trainer.G_ema, args.export, info=trainer.info(), dtype="float16")
        log(f"exported the EMA weights (fp16) to {args.export}")
    return 0
