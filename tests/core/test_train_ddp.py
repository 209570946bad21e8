"""Training on several processes: torchrun + DistributedDataParallel (gloo) against one process."""

import json
import os
import subprocess
import sys

import pytest
import torch

from neural_core.contract.errors import NeuralFaceError
from neural_core.train import losses
from neural_core.train.config import TrainConfig
from neural_core.train.distributed import World
from neural_core.train.trainer import Trainer
from tests.core.test_train_loop import ROOT, SIZE, write_sample_folder

# Settings shared by the torchrun command line and the one-process run (the rest are defaults):
# adversarial from step 1 (so the discriminator, R1 and DDP's second model run), appearance codes on.
SETTINGS = dict(steps=3, batch=4, model="tiny", resolution=SIZE, adv_start=1, appearance_codes=3, log_every=1)
# Tolerance on every weight after 3 steps: 1e-4, 5% of one Adam step (lr 2e-3). The two runs do the
# same arithmetic in another order (two half-batch convolutions whose gradients gloo averages, one
# thread per process, against one full-batch convolution on two threads), so gradients agree only to
# float32 rounding. Adam's first steps divide each gradient by its own magnitude, so on weights whose
# gradient nearly cancels over the batch (|g| near Adam's eps, 1e-8: several discriminator weights at
# the first R1 step) a rounding difference becomes a visible fraction of a step. Measured: up to
# 1.5e-5 between these two runs, and 1.3e-5 between two ONE-process runs on 1 and 2 threads (rounding
# alone); a process that trains on its half batch without averaging differs by 9e-3 to 6e-2.
ATOL = 1e-4


def _data(root):
    write_sample_folder(root / "chunk_00000", seed=0)
    write_sample_folder(root / "chunk_00001", seed=1)
    return root


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    data = _data(tmp_path / "data")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "neural_core", "train", "--data", str(data), "--out", str(tmp_path / "two"), "--device", "cpu",
               "--model", "tiny", "--resolution", str(SIZE), "--steps", "3", "--batch", "4", "--adv-start", "1",
               "--appearance-codes", "3", "--log-every", "1"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes, 2 frames each per step" in result.stderr
    assert result.stderr.count("checkpoint at step 3") == 1  # one writer

    one = Trainer(tmp_path / "one", data, TrainConfig(**SETTINGS))
    one.run()
    two = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)
    reference = one.state()
    assert two["step"] == 3 and two["d_steps"] == 2 and two["sampler"] == reference["sampler"]
    for part in ("G", "G_ema", "D"):
        for name, value in reference[part].items():
            torch.testing.assert_close(two[part][name], value, atol=ATOL, rtol=0, msg=f"{part}.{name}")
    codes = reference["G"]["appearance.codes.weight"]
    assert float(codes.abs().max()) > 1e-3  # the codes did move (so the comparison above means something)
    logged = [json.loads(line) for line in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    single = [json.loads(line) for line in (tmp_path / "one" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logged] == [1, 2, 3]
    for a, b in zip(logged, single):
        for key in ("rec", "prior", "g_adv", "d"):
            if key in b:
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key

    # the two-process checkpoint is an ordinary one: one process resumes it
    resumed = Trainer(tmp_path / "two", data, TrainConfig(**{**SETTINGS, "steps": 4}), resume=True)
    assert resumed.step == 3
    resumed.run()
    assert resumed.step == 4


def test_split_batch_losses_average_to_the_whole_batch_loss_and_gradient():
    """masked_l1(total_area=...): the mean of the halves' losses (and gradients) is the whole batch's."""
    generator = torch.Generator().manual_seed(0)
    output = torch.randn(4, 3, 16, 16, generator=generator, requires_grad=True)
    target = torch.randn(4, 3, 16, 16, generator=generator)
    mask = (torch.rand(4, 1, 16, 16, generator=generator) > torch.tensor([0.2, 0.5, 0.7, 0.9])[:, None, None, None]).float()
    whole = losses.masked_l1(output, target, mask)
    (whole_gradient,) = torch.autograd.grad(whole, output)
    areas = {}  # per scale: the two halves' areas, summed as an all-reduce would

    for half in (slice(0, 2), slice(2, 4)):  # record each half's areas first (what the all-reduce sums)
        recorded = []
        losses.masked_l1(output[half].detach(), target[half], mask[half], total_area=lambda area: (recorded.append(area) or area, 2))
        for scale, area in enumerate(recorded):
            areas.setdefault(scale, []).append(area)
    sums = [sum(areas[s]) for s in range(4)]
    halves, gradients = [], []
    for half in (slice(0, 2), slice(2, 4)):
        scale = iter(sums)
        part = output[half].detach().requires_grad_(True)
        value = losses.masked_l1(part, target[half], mask[half], total_area=lambda area: (next(scale), 2))
        halves.append(value)
        gradients.append(torch.autograd.grad(value, part)[0] / 2)  # DDP averages over the 2 processes
    torch.testing.assert_close((halves[0] + halves[1]) / 2, whole, rtol=1e-6, atol=0)
    torch.testing.assert_close(torch.cat(gradients), whole_gradient, rtol=1e-5, atol=1e-9)
    assert abs(float(losses.masked_l1(output[:2], target[:2], mask[:2]).detach()) - float(whole.detach())) > 1e-3  # the plain half differs


def test_the_batch_must_divide_over_the_processes():
    assert World(rank=1, size=2).shard([10, 11, 12, 13]) == [12, 13]
    with pytest.raises(NeuralFaceError, match="4 frames.*3 processes"):
        World(rank=0, size=3).shard([0, 1, 2, 3])
