"""neural_core/face_model/held_inputs.py: an actor model holds the identity inputs its training
frames never varied at their trained values (the trainer records them, every loaded model
applies them), and models trained on varied identities hold nothing."""

import json

import numpy as np
import pytest
import torch

from neural_core.contract.errors import CheckpointError
from neural_core.face_model import ConditionalModel, load_conditional, save_conditional
from neural_core.face_model.config import tiny_config
from neural_core.face_model.held_inputs import HELD_KEY, HeldInputs, constant_identity
from neural_core.train.config import TrainConfig
from neural_core.train.trainer import Trainer
from tests.core.test_train_loop import NAMES, SIZE, write_sample_folder


def test_only_identity_inputs_that_never_vary_are_held():
    names = ["id_00", "id_01", "Shape000", "jawOpen", "eyeBlinkLeft"]
    rows = np.array([[0.3, 0.1, -0.2, 0.0, 0.0],
                     [0.3, 0.2, -0.2, 0.0, 0.5],
                     [0.3, 0.3, -0.2, 0.0, 1.0]])
    assert constant_identity(names, rows) == pytest.approx({"id_00": 0.3, "Shape000": -0.2})  # jawOpen is constant but no identity
    assert constant_identity(names, np.zeros((0, 5))) == {}
    with pytest.raises(ValueError, match="4 coefficients per row, 5 names"):
        constant_identity(names, np.zeros((2, 4)))


def test_held_inputs_are_set_in_numpy_and_torch_copies_and_unknown_names_are_refused():
    held = HeldInputs({HELD_KEY: {"id_01": 0.25}}, ["id_00", "id_01", "jawOpen"])
    rows = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = held.apply(rows)
    assert np.array_equal(out, [[0, 0.25, 2], [3, 0.25, 5]]) and rows[0, 1] == 1.0  # a copy
    assert torch.equal(held.apply(torch.from_numpy(rows)), torch.from_numpy(out))
    assert "1 identity input(s) held" in held.describe()
    nothing = HeldInputs({}, ["id_00"])
    assert not nothing and nothing.apply(rows) is rows and nothing.describe() == ""
    with pytest.raises(ValueError, match="not among the model's coefficients"):
        HeldInputs({HELD_KEY: {"id_07": 0.0}}, ["id_00"])


def _inputs(model, n=2):
    generator = torch.Generator().manual_seed(1)
    planes = torch.rand([n, model.config.encoder.in_planes, 32, 32], generator=generator)
    return planes, torch.rand([n, model.c_dim], generator=generator), torch.zeros([n, model.z_dim])


def test_a_loaded_model_ignores_its_held_identity_inputs_and_follows_the_others(tmp_path):
    torch.manual_seed(0)
    model = ConditionalModel(tiny_config(("id_00", "jawOpen"))).eval()
    path = tmp_path / "actor.safetensors"
    save_conditional(model, path, info={HELD_KEY: {"id_00": 0.4}})
    loaded = load_conditional(path)
    planes, c, z = _inputs(loaded)
    other_identity, other_jaw = c.clone(), c.clone()
    other_identity[:, 0] += 0.5
    other_jaw[:, 1] += 0.5
    with torch.no_grad():
        base = loaded(planes, c, z)
        assert torch.equal(loaded(planes, other_identity, z), base)
        assert not torch.allclose(loaded(planes, other_jaw, z), base)
        held = c.clone()
        held[:, 0] = 0.4
        assert torch.equal(model(planes, held, z), base)  # the same as the unloaded network given the held value
        assert not torch.allclose(model(planes, other_identity, z), model(planes, c, z))  # which did follow it
    from neural_core.worker.model import FaceModel

    assert "1 identity input(s) held" in FaceModel(path, device="cpu").describe()["held_inputs"]  # the render's start event says so
    save_conditional(model, path, info={HELD_KEY: {"id_09": 0.4}})
    with pytest.raises(CheckpointError, match="bad 'held_inputs'.*id_09"):
        load_conditional(path)


def _constant_identity(folder, value):
    shot = folder / "shot" / "shot.json"
    data = json.loads(shot.read_text())
    for frame in data["frames"]:
        frame["coefficients"][NAMES.index("id_00")] = value
    shot.write_text(json.dumps(data))


@pytest.mark.parametrize("one_identity", [True, False])
def test_the_trainer_records_a_constant_identity_in_the_model_file(tmp_path, one_identity):
    data = tmp_path / "data"
    for k in range(2):
        write_sample_folder(data / f"chunk_0000{k}", seed=k)
        if one_identity:
            _constant_identity(data / f"chunk_0000{k}", 0.375)
    config = TrainConfig(steps=1, batch=2, model="tiny", resolution=SIZE, adv_start=100, ema_start=1, sample_every=100,
                         log_every=1, checkpoint_minutes=1000, appearance_codes=3)
    Trainer(tmp_path / "run", data, config).run()
    loaded = load_conditional(tmp_path / "run" / "ema.safetensors")
    if one_identity:
        assert loaded.info[HELD_KEY] == {"id_00": 0.375} and loaded.held.names == ["id_00"]
    else:
        assert HELD_KEY not in loaded.info and not loaded.held
