"""The actor training recipe: presets, mixed precision, the time budget, divergence, previews."""

import math
import subprocess
import sys

import pytest
import torch
from PIL import Image

from neural_core.contract.errors import NeuralFaceError
from neural_core.face_model import load_conditional
from neural_core.train.config import PRESETS, TrainConfig, preset_config
from neural_core.train.divergence import DeadDiscriminatorWatch
from neural_core.train.precision import Precision
from neural_core.train.trainer import Trainer, model_config_for
from tests.core.test_train_loop import ROOT, SIZE, _states_equal, write_sample_folder


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data"
    write_sample_folder(root / "chunk_00000", seed=0)
    write_sample_folder(root / "chunk_00001", seed=1)
    return root


def _tiny(**overrides):
    settings = dict(steps=4, batch=2, model="tiny", resolution=SIZE, adv_start=1, r1_interval=2, ema_start=1, sample_every=0,
                    log_every=1, checkpoint_minutes=1000, appearance_codes=3)
    settings.update(overrides)
    return TrainConfig(**settings)


def test_presets_build_their_configs():
    cpu, cuda = preset_config("cpu-256"), preset_config("cuda-512", steps=10)
    assert (cpu.resolution, cpu.model, cpu.precision) == (256, "default", "float32")
    assert (cpu.lr, cpu.lr_drop_step, cpu.lr_drop) == (0.001, 3222, 0.2) and cuda.lr_drop_step == 0
    assert cpu.steps == 5451 and preset_config("cpu-256", steps=9).steps == 9  # the measured schedule; --steps wins
    assert (cuda.resolution, cuda.model, cuda.precision, cuda.steps) == (512, "wide", "auto", 10)
    assert cpu.adv_weight > 0 and cuda.adv_weight > 0 and cpu.appearance_codes and cuda.appearance_codes
    model = model_config_for(cuda, None, coefficient_names=["jawOpen", "eyeBlinkLeft"])
    assert model.generator.resolution == 512 and model.generator.w_dim == 512 and model.generator.channels[512] == 32
    assert sorted(PRESETS) == ["cpu-256", "cuda-512"]
    with pytest.raises(NeuralFaceError, match="unknown preset"):
        preset_config("tpu-1024")


def test_precision_choices_on_this_cpu():
    cpu = torch.device("cpu")
    assert Precision("auto", cpu).dtype == torch.float32  # auto is a CUDA choice
    assert Precision("bfloat16", cpu).dtype == torch.bfloat16 and not Precision("bfloat16", cpu).scaling
    with pytest.raises(NeuralFaceError, match="float16 needs a CUDA device"):
        Precision("float16", cpu)
    with pytest.raises(NeuralFaceError, match="precision must be one of"):
        TrainConfig(precision="float8")


def test_bfloat16_autocast_runs_the_generator_and_discriminator_steps(data, tmp_path):
    """The CUDA preset's code path (autocast, R1 through a low-precision D), on the CPU in bfloat16."""
    trainer = Trainer(tmp_path / "run", data, _tiny(steps=3, precision="bfloat16", r1_interval=1))
    seen = {}

    def hook(name):
        def record(module, inputs, output):
            seen.setdefault(name, output.dtype)  # returns None: the output is left as it is

        return record

    trainer.G.encoder.s32.conv0.register_forward_hook(hook("G"))
    trainer.D.from_input.register_forward_hook(hook("D"))
    trainer.run()
    assert trainer.step == 3 and seen == {"G": torch.bfloat16, "D": torch.bfloat16}
    assert trainer.info()["precision"] == "bfloat16"
    line = (tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1]
    assert '"r1"' in line and '"d"' in line
    assert all(torch.isfinite(p).all() for p in trainer.G.parameters())
    float32 = Trainer(tmp_path / "float32", data, _tiny(steps=3, r1_interval=1))
    float32.run()
    difference = max(float((a - b).detach().abs().max()) for a, b in zip(trainer.G.parameters(), float32.G.parameters()))
    assert 0 < difference < 0.05  # the same training, rounded differently


def test_time_budget_stops_cleanly_and_resume_finishes_like_an_uninterrupted_run(data, tmp_path):
    straight = Trainer(tmp_path / "straight", data, _tiny(steps=5))
    straight.run()
    budgeted = Trainer(tmp_path / "budget", data, _tiny(steps=5))
    budgeted.clock = lambda: budgeted.step * 60.0  # every step "takes" one minute
    messages = []
    budgeted.log = messages.append
    assert budgeted.run(max_minutes=2.5) == 3
    assert any("time limit of 2.5 min reached at step 3" in m for m in messages)
    assert any("checkpoint at step 3" in m for m in messages)
    resumed = Trainer(tmp_path / "budget", data, _tiny(steps=5), resume=True)
    assert resumed.step == 3
    resumed.run()
    _states_equal(straight.state(), resumed.state())
    assert torch.equal(straight.G.appearance.codes.weight, resumed.G.appearance.codes.weight)


def test_a_forced_divergence_stops_and_keeps_the_best_checkpoint(data, tmp_path):
    run = tmp_path / "run"
    Trainer(run, data, _tiny(steps=4, checkpoint_every=2)).run()
    best, checkpoint = (run / "best.safetensors").read_bytes(), (run / "checkpoint.pt").read_bytes()
    exploding = Trainer(run, data, None, resume=True, changes={"lr": 1000.0, "steps": 12})
    with pytest.raises(NeuralFaceError, match="training diverged at step [56].*best.safetensors are kept"):
        exploding.run()
    assert (run / "best.safetensors").read_bytes() == best and (run / "checkpoint.pt").read_bytes() == checkpoint
    model = load_conditional(run / "best.safetensors")
    assert all(torch.isfinite(t).all() for t in model.state_dict().values())
    calm = Trainer(run, data, None, resume=True, changes={"lr": 0.001, "steps": 5})  # the documented way on
    assert calm.step == 4
    calm.run()
    assert calm.step == 5


def test_a_dead_discriminator_is_reported_once(data, tmp_path):
    watch = DeadDiscriminatorWatch(window=4)
    assert [watch.update(d) for d in (1.2, 0.9, 1.3, 1.1, 1.0)] == [None] * 5  # a discriminator at work
    said = [watch.update(2 * math.log(2) + e) for e in (1e-4, -2e-4, 0.0, 3e-4, 1e-4, 0.0)]
    assert said[:2] == [None] * 2 and "stopped learning" in said[2] and said[3:] == [None] * 3  # a median over 4: once 3 sat
    messages = []
    trainer = Trainer(tmp_path / "run", data, _tiny(steps=6, lr=1e-9), log=messages.append)
    trainer.d_watch = DeadDiscriminatorWatch(window=3)
    with torch.no_grad():  # logits 0 for everything: the loss of a discriminator that tells nothing apart
        for parameter in trainer.D.parameters():
            parameter.zero_()
    trainer.run()
    assert sum("discriminator has stopped learning" in m for m in messages) == 1
    lively = []
    trainer = Trainer(tmp_path / "lively", data, _tiny(steps=6), log=lively.append)
    trainer.d_watch = DeadDiscriminatorWatch(window=3)
    trainer.run()
    assert not any("stopped learning" in m for m in lively)


def test_previews_every_n_steps_show_outputs_next_to_targets(data, tmp_path):
    trainer = Trainer(tmp_path / "run", data, _tiny(steps=4, sample_every=2))
    trainer.run()
    assert sorted(p.name for p in (tmp_path / "run" / "samples").glob("*.png")) == ["step_0000002.png", "step_0000004.png"]
    latest = Image.open(tmp_path / "run" / "preview.png")
    assert latest.size == (3 * SIZE, 8 * SIZE)
    assert latest.tobytes() == Image.open(tmp_path / "run" / "samples" / "step_0000004.png").tobytes()


def test_cli_preset_minutes_and_a_preset_on_resume_is_refused(data, tmp_path):
    run = tmp_path / "cli"
    base = [sys.executable, "-m", "neural_core", "train", "--data", str(data), "--out", str(run), "--device", "cpu"]
    first = subprocess.run(base + ["--preset", "cpu-256", "--model", "tiny", "--resolution", str(SIZE), "--steps", "2", "--batch", "2",
                                   "--minutes", "30"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "precision float32" in first.stderr and "step 2/2" in first.stderr
    model = load_conditional(run / "ema.safetensors")
    assert model.config.appearance_code_dim == PRESETS["cpu-256"]["appearance_codes"] and len(model.config.appearance_frames) == 8
    again = subprocess.run(base + ["--resume", "--preset", "cpu-256"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "--preset chooses a new run's settings" in again.stderr


def test_sigterm_stops_after_the_step_with_a_checkpoint(data, tmp_path):
    import os
    import signal

    trainer = Trainer(tmp_path / "signal", data, _tiny(steps=6))
    messages = []
    trainer.log = messages.append
    step = trainer.train_step

    def step_then_signal():
        out = step()
        if trainer.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # as a farm scheduler or `kill` would
        return out

    trainer.train_step = step_then_signal
    before = signal.getsignal(signal.SIGTERM)
    assert trainer.run() == 2
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
    assert any("stopped by SIGTERM at step 2" in m for m in messages)
    assert Trainer(tmp_path / "signal", data, _tiny(steps=6), resume=True).step == 2


def test_resume_with_the_data_named_another_way_continues(data, tmp_path, monkeypatch):
    """Bug: a run started with an absolute --data and resumed with a relative one failed with a KeyError
    (the saved order named the folders by the other path). A resume on other data is a clear error."""
    run = tmp_path / "run"
    Trainer(run, data, _tiny(steps=2)).run()
    monkeypatch.chdir(data.parent)
    resumed = Trainer(run, data.name, _tiny(steps=4), resume=True)
    assert resumed.run() == 4
    other = tmp_path / "other"
    write_sample_folder(other / "chunk_00000", seed=0)
    write_sample_folder(other / "chunk_00001", seed=1)
    with pytest.raises(NeuralFaceError, match="saved data order reads .*not under --data now"):
        Trainer(run, other, _tiny(steps=6), resume=True)


def test_skin_colour_gap_sees_colour_not_brightness():
    from neural_core.train.losses import skin_colour_gap

    skin = torch.zeros(2, 1, 8, 8)
    skin[:, :, 2:6, 2:6] = 1.0
    warm = torch.tensor([0.6, 0.2, 0.0]).view(1, 3, 1, 1).expand(2, 3, 8, 8).clone()
    darker = ((warm + 1) * 0.5 * 0.7) * 2 - 1  # the same colour in less light (sRGB scaled: gamma 2.2 keeps ratios)
    greener = warm.clone()
    greener[:, 1] += 0.2
    assert float(skin_colour_gap(darker, skin, warm, skin)) < 1e-4
    assert float(skin_colour_gap(greener, skin, warm, skin)) > 0.1
    assert float(skin_colour_gap(greener, torch.zeros_like(skin), warm, skin)) == 0.0  # no skin: no term


def test_colour_consistency_renders_each_frame_with_its_neighbours_code(data, tmp_path):
    trainer = Trainer(tmp_path / "run", data, _tiny(steps=4, colour_consistency=1.0, colour_consistency_every=2))
    batches = []
    trainer.G_train.register_forward_hook(lambda module, inputs, output: batches.append(len(output)))
    trainer.run()
    assert batches == [4, 2, 4, 2]  # steps 0 and 2: the batch of 2 and the same frames with swapped codes
    lines = [line for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert ['"colour"' in line for line in lines] == [True, False, True, False]
    assert all(torch.isfinite(p).all() for p in trainer.G.parameters())
    with pytest.raises(NeuralFaceError, match="colour consistency"):
        TrainConfig(colour_consistency=-1.0)
