"""Training: sample folders, losses, a few steps, checkpoint, resume to an identical state, the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neural_core.contract.errors import NeuralFaceError
from neural_core.contract.shot.exr import write_exr_channels
from neural_core.contract.shot import FrameRecord, PassInfo, Shot, Transform, pass_path, write_shot
from neural_core.train import losses
from neural_core.train.config import TrainConfig
from neural_core.train.dataset import FaceDataset, find_sample_folders, probit
from neural_core.train.progress import Progress
from neural_core.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]
SIZE = 32
NAMES = ["id_00", "jawOpen", "eyeBlinkLeft"]


def write_sample_folder(folder, frames=4, seed=0, complete=True):
    """A tiny sample folder like tools/make_dataset.py writes: a disc 'head' whose size follows jawOpen."""
    rng = np.random.default_rng(seed)
    shot_folder = Path(folder) / "shot"
    (shot_folder / "passes").mkdir(parents=True)
    (Path(folder) / "targets").mkdir()
    passes = {
        "depth": PassInfo(channels=["Z"], space="camera", units="m", source="V.Depth"),
        "normal": PassInfo(channels=["X", "Y", "Z"], space="camera", units="unit-vector", source="V.Normal"),
        "mask": PassInfo(channels=["X"], space="screen", units="coverage", source="V.IndexOB"),
        "regions": PassInfo(channels=["X"], space="screen", units="id", source="V.IndexMA"),
    }
    records, appearance = [], []
    y, x = np.mgrid[:SIZE, :SIZE]
    for frame in range(1, frames + 1):
        coefficients = rng.random(len(NAMES))
        radius = SIZE * (0.2 + 0.15 * coefficients[1])
        inside = (x - SIZE / 2) ** 2 + (y - SIZE / 2) ** 2 < radius**2
        write_exr_channels(
            pass_path(shot_folder, frame),
            {
                "V.Depth.Z": np.where(inside, 0.6, 1e10).astype(np.float32),
                "V.Normal.X": np.zeros((SIZE, SIZE), np.float32),
                "V.Normal.Y": np.zeros((SIZE, SIZE), np.float32),
                "V.Normal.Z": np.where(inside, -1.0, 0.0).astype(np.float32),
                "V.IndexOB.X": inside.astype(np.float32),
                "V.IndexMA.X": np.where(inside, np.where(y > SIZE / 2, 2.0, 1.0), 0.0).astype(np.float32),
            },
        )
        u = rng.random(2)
        colour = np.array([u[0], 0.5, u[1]]) * 255
        image = np.where(inside[..., None], colour, 20).astype(np.uint8)
        Image.fromarray(image).save(Path(folder) / "targets" / f"{frame:04d}.png")
        identity = Transform(rotation=np.eye(3), translation=np.zeros(3))
        records.append(
            FrameRecord(
                frame=frame,
                coefficients=coefficients,
                head_world=identity,
                head_camera=identity,
                joints={},
                K=np.array([[50.0, 0, 16], [0, 50.0, 16], [0, 0, 1]]),
                world_to_camera=np.eye(4),
            )
        )
        appearance.append({"appearance": u.tolist()})
    write_shot(
        shot_folder,
        Shot(
            fps=24.0,
            resolution=(SIZE, SIZE),
            pixel_aspect=1.0,
            rig_profile="arkit52",
            coefficient_names=NAMES,
            frames=records,
            passes=passes,
            render={"mask_pass_index": 1},
        ),
    )
    if complete:
        (Path(folder) / "frames.json").write_text(json.dumps({"appearance_names": ["hue", "blue"], "frames": appearance}))
    return Path(folder)


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data"
    write_sample_folder(root / "chunk_00000", seed=0)
    write_sample_folder(root / "chunk_00001", seed=1)
    write_sample_folder(root / "chunk_00002", seed=2, complete=False)  # still being written: skipped
    return root


def _config(**overrides):
    settings = dict(
        steps=6,
        batch=2,
        model="tiny",
        resolution=SIZE,
        adv_start=2,
        r1_interval=2,
        ema_start=1,
        sample_every=3,
        log_every=1,
        checkpoint_minutes=1000,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_dataset_reads_complete_folders_in_model_order(data):
    assert [p.name for p in find_sample_folders(data)] == ["chunk_00000", "chunk_00001"]
    trainer = Trainer(data.parent / "run", data, _config())
    dataset = trainer.dataset
    assert len(dataset) == 8
    sample = dataset.load(dataset.keys[0])
    assert sample["planes"].shape == (trainer.model_config.encoder.in_planes, SIZE, SIZE)
    assert sample["target"].shape == (3, SIZE, SIZE) and -1 <= sample["target"].min() and sample["target"].max() <= 1
    assert trainer.model_config.coefficient_names == tuple(NAMES)
    assert trainer.model_config.generator.z_dim == 2 and sample["z"].shape == (2,)
    np.testing.assert_allclose(probit([0.5, 0.975]), [0.0, 1.96], atol=1e-3)


def test_no_data_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NeuralFaceError, match="no complete sample folders"):
        FaceDataset(tmp_path / "empty", None)


def test_losses_on_literal_tensors():
    out = torch.zeros(1, 3, 4, 4)
    target = torch.ones(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    assert float(losses.masked_l1(out, target, mask)) == 0.0  # nothing under an empty mask
    mask[..., :2, :2] = 1
    assert float(losses.masked_l1(out, target, mask, scales=1)) == pytest.approx(1.0)
    assert float(losses.generator_adversarial(torch.zeros(3))) == pytest.approx(np.log(2))
    assert float(losses.discriminator_adversarial(torch.zeros(3), torch.zeros(3))) == pytest.approx(2 * np.log(2))


def test_reconstruction_loss_falls(data, tmp_path):
    trainer = Trainer(tmp_path / "run", data, _config(steps=40, adv_weight=0.0, batch=4, lr=0.005))
    first = np.mean([trainer.train_step()["rec"] for _ in range(5)])
    for _ in range(30):
        trainer.train_step()
    last = np.mean([trainer.train_step()["rec"] for _ in range(5)])
    assert last < first * 0.8


def _states_equal(a, b):
    for key in ("G", "G_ema", "D"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), f"{key}.{name} differs"
    assert a["step"] == b["step"] and a["sampler"] == b["sampler"]
    assert a["opt_G"]["state"].keys() == b["opt_G"]["state"].keys()
    for index, entry in a["opt_G"]["state"].items():
        assert torch.equal(entry["exp_avg"], b["opt_G"]["state"][index]["exp_avg"])


def test_checkpoint_and_resume_give_identical_state(data, tmp_path):
    straight = Trainer(tmp_path / "straight", data, _config(steps=6))
    straight.run()
    interrupted = Trainer(tmp_path / "resumed", data, _config(steps=3))
    interrupted.run()
    assert all((tmp_path / "resumed" / name).is_file() for name in ("checkpoint.pt", "ema.safetensors", "best.safetensors"))
    resumed = Trainer(tmp_path / "resumed", data, _config(steps=6), resume=True)
    assert resumed.step == 3
    resumed.run()
    _states_equal(straight.state(), resumed.state())
    log = [json.loads(line) for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3, 4, 5, 6]
    assert "d" in log[-1] and "rec" in log[-1]
    grids = sorted(p.name for p in (tmp_path / "resumed" / "samples").glob("*.png"))
    assert grids == ["step_0000003.png", "step_0000006.png"]
    assert Image.open(tmp_path / "resumed" / "samples" / grids[0]).size == (3 * SIZE, 8 * SIZE)


def test_the_learning_rate_drops_at_its_step_and_a_resume_across_it_matches_a_straight_run(data, tmp_path):
    settings = dict(steps=5, lr=0.004, lr_drop_step=3, lr_drop=0.25)
    messages = []
    straight = Trainer(tmp_path / "straight", data, _config(**settings), log=messages.append)
    rates = []
    step = straight.train_step
    straight.train_step = lambda: rates.append(straight.opt_G.param_groups[0]["lr"]) or step()
    straight.run()
    assert rates == [0.004] * 3 + [0.001] * 2  # steps 1-3 at lr, 4-5 at lr x lr_drop
    assert straight.opt_D.param_groups[0]["lr"] == pytest.approx(0.001 * 2 / 3)  # r1_interval 2
    assert straight.opt_G.param_groups[1]["lr"] == pytest.approx(0.001 * straight.config.encoder_lr_scale)
    assert sum("learning rate 0.004 -> 0.001" in m for m in messages) == 1
    interrupted = Trainer(tmp_path / "resumed", data, _config(**{**settings, "steps": 4}))
    interrupted.run()
    resumed = Trainer(tmp_path / "resumed", data, _config(**settings), resume=True)
    assert resumed.opt_G.param_groups[0]["lr"] == pytest.approx(0.001)  # resumed past the drop: dropped
    resumed.run()
    _states_equal(straight.state(), resumed.state())
    plain = Trainer(tmp_path / "plain", data, _config(**{**settings, "lr_drop_step": 0}))
    plain.run()
    straight_weights = straight.state()["G"]
    assert any(not torch.equal(value, straight_weights[name]) for name, value in plain.state()["G"].items())
    with pytest.raises(NeuralFaceError, match="bad learning-rate drop"):
        _config(lr_drop=0.0)
    with pytest.raises(NeuralFaceError, match="bad learning-rate drop"):
        _config(lr_drop_step=-1)


def test_feature_weights_grow_the_features_and_tilt_the_mean_towards_them():
    regions = torch.zeros(1, 7, 16, 16)
    regions[:, 0] = 1  # all skin ...
    regions[:, 0, 8, 8], regions[:, 2, 8, 8] = 0, 1  # ... but one sclera pixel
    weights = losses.feature_weights(regions, 4.0, grow=3)
    assert weights.shape == (1, 1, 16, 16)
    assert float(weights[0, 0, 7:10, 7:10].min()) == 5.0 and float(weights.sum()) == 256 + 9 * 4.0
    out, target, mask = torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16), torch.ones(1, 1, 16, 16)
    target[:, :, 8, 8] = 1  # the only error sits on the feature
    plain = float(losses.masked_l1(out, target, mask, scales=1))
    weighted = float(losses.masked_l1(out, target, mask, scales=1, weights=weights))
    assert plain == pytest.approx(1 / 256) and weighted == pytest.approx(5 / (256 + 36))


def test_a_run_with_feature_weight_trains(data, tmp_path):
    trainer = Trainer(tmp_path / "run", data, _config(steps=2, feature_weight=4.0))
    weights = trainer._loss_weights(trainer._fixed_batch()[0])
    assert weights is not None and float(weights.max()) == 5.0 and float(weights.min()) == 1.0
    trainer.run()
    assert trainer.step == 2


def test_resume_changes_learning_rate_and_adversarial_weight_but_not_the_model(data, tmp_path):
    first = Trainer(tmp_path / "run", data, _config(steps=2))
    first.run()
    messages = []
    resumed = Trainer(tmp_path / "run", data, None, resume=True, log=messages.append, changes={"lr": 0.0005, "adv_weight": 0.0, "steps": 3})
    assert resumed.step == 2 and resumed.config.lr == 0.0005 and resumed.config.adv_weight == 0.0
    assert [group["lr"] for group in resumed.opt_G.param_groups] == [0.0005, 0.0005 * resumed.config.encoder_lr_scale]
    assert resumed.opt_D.param_groups[0]["lr"] < 0.0005
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["lr"] == 0.0005 and saved["train"]["steps"] == 3 and saved["model"] == first.model_config.to_dict()
    assert any("changed on resume at step 2" in m and "'lr': [" in m for m in messages)
    resumed.run()
    assert resumed.step == 3
    with pytest.raises(NeuralFaceError, match="resolution cannot change on --resume"):
        Trainer(tmp_path / "run", data, None, resume=True, changes={"resolution": 64})


def test_a_second_start_without_resume_is_refused(data, tmp_path):
    Trainer(tmp_path / "run", data, _config(steps=1)).run()
    with pytest.raises(NeuralFaceError, match="--resume"):
        Trainer(tmp_path / "run", data, _config(steps=1))


def test_progress_line_shows_losses_and_time_left():
    import io

    stream = io.StringIO()
    progress = Progress(100, stream=stream, interval=0)
    line = progress.update(40, {"rec": 0.25}, 2.0)
    assert "step 40/100" in line and "rec 0.2500" in line and "2m00s left" in line
    assert stream.getvalue().endswith("\n")


def test_cli_trains_checkpoints_resumes_and_exports(data, tmp_path):
    run = tmp_path / "cli_run"
    base = [sys.executable, "-m", "neural_core", "train", "--data", str(data), "--out", str(run), "--device", "cpu"]
    first = subprocess.run(
        base + ["--model", "tiny", "--resolution", str(SIZE), "--steps", "2", "--batch", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    assert "step 2/2" in first.stderr and "checkpoint at step 2" in first.stderr
    exported = tmp_path / "model.safetensors"
    second = subprocess.run(
        base + ["--resume", "--steps", "3", "--export", str(exported)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stderr
    assert "resumed" in second.stderr and "step 3/3" in second.stderr
    from neural_core.face_model import load_conditional

    model = load_conditional(exported)
    assert model.info["steps"] == 3
    again = subprocess.run(base + ["--steps", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "--resume" in again.stderr


def test_divergence_stops_the_run_and_keeps_the_last_checkpoint(data, tmp_path):
    trainer = Trainer(tmp_path / "run", data, _config(steps=4))
    trainer.run()
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    trainer.config.steps = 8
    trainer.train_step = lambda: {"rec": float("nan")}
    with pytest.raises(NeuralFaceError, match="diverged at step 4"):
        trainer.run()
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


def test_a_batch_is_read_by_threads_in_key_order(data, tmp_path, monkeypatch):
    import threading

    from neural_core.train import batches

    monkeypatch.setattr(batches, "LOAD_THREADS", 3)
    trainer = Trainer(tmp_path / "run", data, _config())
    readers = set()
    load = trainer.dataset.load

    def recording_load(key):
        readers.add(threading.current_thread().name)
        return load(key)

    trainer.dataset.load = recording_load
    keys = list(reversed(trainer.dataset.keys))
    threaded = trainer.batches.load_samples(keys)
    assert all(name.startswith("neural-face-load") for name in readers)
    for key, sample in zip(keys, threaded):
        alone = load(key)
        assert all(np.array_equal(sample[k], alone[k]) for k in ("planes", "coefficients", "target", "mask"))


def test_the_reading_threads_end_with_the_run(data, tmp_path):
    import threading

    def readers():  # tests that call train_step() themselves may leave theirs
        return {t for t in threading.enumerate() if t.name.startswith("neural-face-load")}

    before = readers()
    trainer = Trainer(tmp_path / "run", data, _config(steps=2))
    trainer.run()
    assert trainer.step == 2 and readers() <= before and trainer.batches.threads is None
    trainer.config.steps = 3  # a second run on the same trainer starts new ones
    trainer.run()
    assert trainer.step == 3 and readers() <= before
