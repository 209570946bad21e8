"""A new run warm-started from a model file (``--init``), and the watch that stops a finite blow-up."""

import pytest
import torch

from neural_core import DEFAULT_MODEL
from neural_core.contract.errors import NeuralFaceError
from neural_core.face_model import save_conditional
from neural_core.train.config import preset_config
from neural_core.train.trainer import Trainer
from neural_core.train.divergence import DivergenceWatch
from neural_core.train.warm_start import init_path
from tests.core.test_train_loop import write_sample_folder
from tests.core.test_train_recipe import _tiny


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data"
    write_sample_folder(root / "chunk_00000", seed=0)
    return root


def _source(data, tmp_path):
    """A trained tiny run's EMA model file (the 'bundled model' of these tests)."""
    trainer = Trainer(tmp_path / "source", data, _tiny(steps=2, seed=5))
    trainer.run()
    path = tmp_path / "source.safetensors"
    save_conditional(trainer.G_ema, path)
    return trainer.G_ema, path


def test_init_copies_the_generator_and_encoder_and_leaves_the_codes_fresh(data, tmp_path):
    source, path = _source(data, tmp_path)
    messages = []
    trainer = Trainer(tmp_path / "run", data, _tiny(steps=1, init=str(path)), log=messages.append)
    assert any("started from source.safetensors" in m for m in messages)
    theirs = source.state_dict()
    for key, value in trainer.G.state_dict().items():
        if key.startswith(("generator.", "encoder.")):
            assert torch.equal(value, theirs[key]), key
    assert not trainer.G.appearance.codes.weight.any()  # codes start at 0: step 0 renders the source's median look
    for a, b in zip(trainer.G.parameters(), trainer.G_ema.parameters()):
        assert torch.equal(a, b)
    cold = Trainer(tmp_path / "cold", data, _tiny(steps=1))
    assert not torch.equal(cold.G.generator.synthesis.b4.conv1.weight, trainer.G.generator.synthesis.b4.conv1.weight)


def test_init_from_another_shape_or_order_is_a_clear_error(data, tmp_path):
    _, path = _source(data, tmp_path)
    with pytest.raises(NeuralFaceError, match="source.safetensors: its generator differs.*resolution"):
        Trainer(tmp_path / "a", data, _tiny(init=str(path), resolution=16))
    with pytest.raises(NeuralFaceError, match="no model file at"):
        Trainer(tmp_path / "b", data, _tiny(init=str(tmp_path / "missing.safetensors")))
    assert init_path("default") == DEFAULT_MODEL


def test_the_cpu_preset_starts_from_the_bundled_model_unless_reshaped():
    assert preset_config("cpu-256").init == "default"
    assert preset_config("cpu-256", model="tiny", resolution=32).init == ""  # the bundled model has the preset's shape only
    assert preset_config("cpu-256", model="tiny", init="x.safetensors").init == "x.safetensors"
    assert preset_config("cuda-512").init == ""


def test_divergence_watch_ignores_a_spike_and_stops_a_blow_up():
    watch = DivergenceWatch(window=5, factor=10)
    losses = [0.2] * 10 + [50.0] + [0.2] * 10  # one spike: the median does not move
    assert all(watch.update(v) is None for v in losses)
    trips = [watch.update(v) for v in [3000.0] * 5]
    assert trips[:2] == [None, None] and "over 10x its lowest (0.2)" in trips[2]
    restored = DivergenceWatch(window=5, factor=10)
    restored.load(watch.state())
    assert restored.lowest == watch.lowest and list(restored.recent) == list(watch.recent)


def test_a_finite_blow_up_stops_the_run_without_writing(data, tmp_path, monkeypatch):
    run = tmp_path / "run"
    trainer = Trainer(run, data, _tiny(steps=40, checkpoint_every=10))
    real_step = trainer.train_step

    def step():
        out = real_step()
        if trainer.step > 25:
            out["rec"] = 4400.0  # finite, far above anything seen (the CPU actor run's step ~840)
        return out

    monkeypatch.setattr(trainer, "train_step", step)
    checkpoint = None
    stopped = r"training diverged at step 3\d: the reconstruction loss's median.*best.safetensors are kept"
    with pytest.raises(NeuralFaceError, match=stopped):
        try:
            trainer.run()
        finally:
            checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 30  # the one written at step 30 (inside the window) stays; none after the stop
