#!/usr/bin/env python3
"""Generator speed on CPU: median ms/image, batch 1, config-F widths, noise 'const'.

    .venv/bin/python tools/bench_generator.py [--resolutions 256 512 1024] [--repeats 5]
        [--threads 2] [--reference-dir DIR]

Prints, per resolution: our median ms/image, the reference's (timed in this process,
alternating with ours, when ``--reference-dir`` points at a checkout of
NVlabs/stylegan2-ada-pytorch; otherwise the figures measured on this machine and quoted in
issue 5), the speed-up, GFLOP/image and the achieved GFLOP/s as a fraction of the machine's
float32 matmul rate. That rate is the median of 2048^2 float32 matmuls (torch, same thread
count) timed between the generator runs, one after each generator timing, so a busy moment
on a shared host moves one sample, not the yardstick. With a reference checkout it also
loads our weights into the reference network and prints the max abs difference of the two
images.

The reference checkout is only imported from DIR; it is never copied into the project.
"""

import argparse
import statistics
from functools import partial
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# ms/image quoted in issue 5 (NVlabs' code, this machine, batch 1, 2 threads, fp32)
ISSUE_REFERENCE_MS = {256: (1150, 1600), 512: (2100, 2400), 1024: (4300, 4500)}


def generator_gflop(config) -> float:
    """GFLOP per image (2 FLOP per multiply-add): convs, ToRGBs, blurs and image upsampling."""
    flop, previous = 0, None
    for res in config.block_resolutions:
        c = config.channels[res]
        if previous is None:
            flop += 2 * c * c * 9 * res * res
        else:
            flop += 2 * previous * c * 9 * (res // 2) ** 2  # stride-2 transposed 3x3 conv at input res
            flop += 2 * 16 * c * res * res  # 4x4 blur
            flop += 2 * c * c * 9 * res * res  # conv1
            flop += 2 * 4 * config.img_channels * res * res  # image upsampling (polyphase 2x2 taps)
        flop += 2 * c * config.img_channels * res * res  # ToRGB
        previous = c
    layers = [config.z_dim] + [config.w_dim] * config.mapping_layers
    flop += sum(2 * a * b for a, b in zip(layers, layers[1:]))
    return flop / 1e9


class MatmulRate:
    """The achievable matmul rate: n x n matmuls timed one at a time, interleaved with the
    timings being compared (call :meth:`sample` after each), summarised by their median.
    float32 on the CPU by default; ``device``/``dtype`` measure another (a GPU: synchronised)."""

    def __init__(self, torch, n=2048, device="cpu", dtype=None):
        self.torch, self.n = torch, n
        self.device = torch.device(device)
        dtype = dtype or torch.float32
        self.a = torch.randn(n, n, device=self.device).to(dtype)
        self.b = torch.randn(n, n, device=self.device).to(dtype)
        self.out = torch.empty(n, n, device=self.device, dtype=dtype)
        torch.mm(self.a, self.b, out=self.out)  # warm-up: thread pool, kernel choice
        self._sync()
        self.rates = []  # GFLOP/s of each timed matmul

    def _sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def sample(self) -> float:
        self._sync()
        start = time.perf_counter()
        self.torch.mm(self.a, self.b, out=self.out)
        self._sync()
        self.rates.append(2 * self.n**3 / (time.perf_counter() - start) / 1e9)
        return self.rates[-1]

    def median(self) -> float:
        return statistics.median(self.rates)


def build_reference(reference_dir, config, ours):
    sys.path.insert(0, str(reference_dir))
    from training.networks import Generator as ReferenceGenerator

    reference = ReferenceGenerator(
        z_dim=config.z_dim,
        c_dim=0,
        w_dim=config.w_dim,
        img_resolution=config.resolution,
        img_channels=3,
        mapping_kwargs={"num_layers": config.mapping_layers},
        synthesis_kwargs={"channel_base": config.channel_base, "channel_max": config.channel_max, "num_fp16_res": 0, "conv_clamp": None},
    ).eval()
    missing, unexpected = reference.load_state_dict(ours.state_dict(), strict=False)
    assert not unexpected and all(k.endswith("resample_filter") for k in missing), (missing, unexpected)
    return reference


def time_call(fn) -> tuple[float, float]:
    """(wall ms, process CPU ms) of one call. CPU time is less disturbed by other
    processes on a shared host; wall time is what a user waits."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per network and resolution")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference-dir", type=Path, help="checkout of NVlabs/stylegan2-ada-pytorch to time alongside")
    args = parser.parse_args(argv)

    import torch

    from neural_core.generator import Generator, GeneratorConfig

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 1, float32, noise_mode='const', psi 1")
    matmul = MatmulRate(torch)
    rows = []
    for res in args.resolutions:
        config = GeneratorConfig.config_f(res)
        G = Generator(config).eval().requires_grad_(False)
        z = torch.randn(1, config.z_dim)
        reference = build_reference(args.reference_dir, config, G) if args.reference_dir else None
        with torch.no_grad():
            ours_fn = partial(G, z, noise_mode="const")
            ref_fn = partial(reference, z, None, noise_mode="const") if reference else None
            diff = float((ours_fn() - ref_fn()).abs().max()) if reference else None  # also the warm-up
            if not reference:
                ours_fn()
            ours_ms, ref_ms = [], []
            for _ in range(args.repeats):
                ours_ms.append(time_call(ours_fn))
                matmul.sample()
                if ref_fn:
                    ref_ms.append(time_call(ref_fn))
                    matmul.sample()
        gflop = generator_gflop(config)
        ours = statistics.median(t[0] for t in ours_ms)
        ref = statistics.median(t[0] for t in ref_ms) if ref_ms else None
        cpu_ratio = statistics.median(t[1] for t in ref_ms) / statistics.median(t[1] for t in ours_ms) if ref_ms else None
        rows.append((res, ours, ref, gflop, diff, cpu_ratio))
        del G, reference

    peak = matmul.median()
    rates = sorted(matmul.rates)
    print(f"2048x2048 float32 matmul, median of {len(rates)} timed between the generator runs: {peak:.1f} GFLOP/s "
          f"(range {rates[0]:.1f}-{rates[-1]:.1f})")
    print()
    print(f"{'res':>5} {'ours ms':>9} {'ref ms':>13} {'speed-up':>9} {'GFLOP':>7} {'GFLOP/s':>8} {'of matmul':>9} "
          f"{'max|diff|':>10} {'CPU-time speed-up':>18}")
    for res, ours, ref, gflop, diff, cpu_ratio in rows:
        rate = gflop / (ours / 1000)
        if ref is not None:
            ref_text, speedup = f"{ref:9.0f} run", f"{ref / ours:8.2f}x"
        else:
            low, high = ISSUE_REFERENCE_MS.get(res, (float("nan"),) * 2)
            ref_text, speedup = f"{low:.0f}-{high:.0f} issue", f"{low / ours:.2f}-{high / ours:.2f}x"
        diff_text = f"{diff:10.1e}" if diff is not None else f"{'-':>10}"
        cpu_text = f"{cpu_ratio:17.2f}x" if cpu_ratio else f"{'-':>18}"
        print(f"{res:>5} {ours:9.0f} {ref_text:>13} {speedup:>9} {gflop:7.1f} {rate:8.1f} {rate / peak:8.0%} {diff_text} {cpu_text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
