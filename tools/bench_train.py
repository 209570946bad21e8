#!/usr/bin/env python3
"""Training throughput: images/s of the trainer and its share of the machine's matmul rate.

    .venv/bin/python tools/bench_train.py [--preset cpu-256] [--steps 6] [--threads 2] [--frames 8] [--device cuda] [--precision bfloat16]

Builds a small synthetic sample folder at the preset's resolution (a disc "head" whose size
follows jawOpen, as the training tests use), starts a run of the preset in a temporary
folder (the adversarial term from step 0, so every timed step runs the discriminator and
some run R1; appearance codes as the preset has them), warms up two steps, then times
``--steps`` steps. Prints seconds per step, images/s, the share of a step spent reading
samples (EXR passes + PNG targets), GFLOP per step (``torch.utils.flop_counter`` over one
whole step: generator and discriminator, forward and backward, R1's double backward) and
the achieved GFLOP/s as a fraction of the float32 matmul rate, measured as in
``bench_generator.py``: 2048^2 matmuls timed one after each training step, median.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def write_data(folder: Path, resolution: int, frames: int):
    from tests.core import test_train_loop

    test_train_loop.SIZE = resolution  # the helper draws at the module's SIZE
    half = frames // 2
    test_train_loop.write_sample_folder(folder / "chunk_00000", frames=max(1, half), seed=0)
    test_train_loop.write_sample_folder(folder / "chunk_00001", frames=max(1, frames - half), seed=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu-256")
    parser.add_argument("--steps", type=int, default=6, help="timed steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8, help="frames of synthetic data")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default=None, help="float32, bfloat16, float16 or auto (default: the preset's)")
    args = parser.parse_args(argv)

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bench_generator import MatmulRate
    from neural_core.train.config import preset_config
    from neural_core.train.trainer import Trainer

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        config = preset_config(args.preset, adv_start=0, r1_interval=4, sample_every=0, log_every=0, checkpoint_minutes=1e6, steps=10**6,
                               init="",  # random weights: the synthetic data's 3 coefficients do not fit the bundled model
                               **({"precision": args.precision} if args.precision else {}))
        write_data(scratch / "data", config.resolution, args.frames)
        trainer = Trainer(scratch / "run", scratch / "data", config, device=args.device)
        loading = []  # wall seconds of each batch's reading (the trainer reads a batch's frames in parallel threads)
        load = trainer.batches.load_samples

        def timed_load(keys):
            start = time.perf_counter()
            samples = load(keys)
            loading.append(time.perf_counter() - start)
            return samples

        trainer.batches.load_samples = timed_load
        for _ in range(2):
            trainer.train_step()
        with FlopCounterMode(display=False) as counter:
            trainer.train_step()  # the third discriminator step (d_steps 2): no R1 (R1 every 4th)
        plain_flop = counter.get_total_flops()
        loading.clear()
        # the rate of the dtype the forward passes run in (bfloat16/float16 under autocast on a GPU)
        on_gpu = trainer.device.type == "cuda"
        matmul = MatmulRate(torch, n=8192 if on_gpu else 2048, device=trainer.device, dtype=trainer.precision.dtype)
        seconds = []
        for _ in range(args.steps):
            start = time.perf_counter()
            trainer.train_step()
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - start)
            matmul.sample()
        step = statistics.median(seconds)
        images = config.batch / step
        achieved = plain_flop / step / 1e9
        print(
            f"preset {args.preset}: {config.resolution} px, model {config.model}, batch {config.batch}, precision "
            f"{trainer.precision.name}, {args.threads} threads, device {trainer.device}"
        )
        print(
            f"step: median {step:.2f} s (min {min(seconds):.2f}, max {max(seconds):.2f}) over {args.steps} steps -> {images:.2f} images/s"
        )
        print(f"reading samples: {sum(loading) / sum(seconds):.0%} of the step time ({1000 * statistics.median(loading):.0f} ms per batch)")
        print(
            f"{plain_flop / 1e9:.1f} GFLOP per step without R1 ({plain_flop / 1e9 / config.batch:.1f} per image); "
            f"{achieved:.1f} GFLOP/s = {achieved / matmul.median():.1%} of the {str(trainer.precision.dtype).split('.')[-1]} matmul rate "
            f"({matmul.median():.1f} GFLOP/s, median)"
        )


if __name__ == "__main__":
    main()
