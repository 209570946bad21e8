"""Per-frame appearance codes: the model part, training, the checkpoint, render-time choice,
and the bundled default model (no codes) rendering exactly as before."""

import numpy as np
import pytest
import torch
from PIL import Image

from neural_core.cli import main as cli_main
from neural_core.contract.errors import CheckpointError, NeuralFaceError
from neural_core.face_model import ConditionalModel, load_conditional, read_conditional, save_conditional
from neural_core.contract.looks import parse_look
from neural_core.face_model.appearance import choose_code, typical_frame
from neural_core.face_model.config import ConditionalConfig, tiny_config
from neural_core.face_model.inputs import pass_planes
from neural_core.train.config import TrainConfig
from neural_core.train.trainer import Trainer
from neural_core.worker.model import DEFAULT_MODEL, FaceModel
from tests.core.synthetic_shot import COEFFICIENTS, write_shot_folder
from tests.core.test_train_loop import SIZE, write_sample_folder

FRAMES = ("a/0001", "a/0002", "b/0001")


def _codes_model(seed=0, names=("jawOpen", "eyeBlinkLeft")):
    config = tiny_config(names)
    config.appearance_code_dim, config.appearance_frames = 3, FRAMES
    torch.manual_seed(seed)
    model = ConditionalModel(config).eval()
    with torch.no_grad():
        model.appearance.codes.weight.normal_()  # as if trained
    return model


def _inputs(model, n=3):
    generator = torch.Generator().manual_seed(1)
    planes = torch.rand([n, model.config.encoder.in_planes, 32, 32], generator=generator)
    return planes, torch.rand([n, model.c_dim], generator=generator), torch.zeros([n, model.z_dim])


def test_codes_start_at_the_mean_and_each_frame_index_gives_its_own_look():
    config = tiny_config()
    config.appearance_code_dim, config.appearance_frames = 3, FRAMES
    fresh = ConditionalModel(config)
    assert float(fresh.appearance.codes.weight.detach().abs().max()) == 0.0
    model = _codes_model()
    planes, c, z = _inputs(model)
    with torch.no_grad():
        by_index = model(planes, c, z, appearance=torch.tensor([0, 1, 2]))
        by_code = model(planes, c, z, appearance=model.appearance.codes.weight.clone())
        mean = model(planes, c, z)  # no appearance: the mean code
        explicit_mean = model(planes, c, z, appearance=model.appearance.mean()[None])
    assert torch.equal(by_index, by_code) and torch.equal(mean, explicit_mean)
    assert not torch.allclose(by_index[0], by_index[1]) and not torch.allclose(by_index[0], mean[0])
    with pytest.raises(ValueError, match="no appearance codes"):
        ConditionalModel(tiny_config())(planes, c, torch.zeros([3, 4]), appearance=torch.tensor([0, 1, 2]))


def test_the_mean_code_is_the_mean_of_the_frames_w_offsets():
    model = _codes_model()
    offsets = model.appearance.offset(model.appearance.codes.weight)
    torch.testing.assert_close(model.appearance.offset(model.appearance.mean()[None])[0], offsets.mean(dim=0))


def test_codes_travel_in_the_safetensors_file_and_a_render_picks_one(tmp_path):
    model = _codes_model()
    path = tmp_path / "actor.safetensors"
    save_conditional(model, path)
    config, state, _ = read_conditional(path)
    assert config.appearance_frames == FRAMES and config.appearance_code_dim == 3
    assert torch.equal(state["appearance.codes.weight"], model.appearance.codes.weight)
    loaded = load_conditional(path)
    codes = model.appearance.codes.weight
    assert torch.equal(choose_code(loaded, "frame:2"), codes[2][None])
    assert torch.equal(choose_code(loaded, "mean"), model.appearance.mean()[None])
    assert torch.equal(choose_code(loaded, 0), model.appearance.mean()[None])
    assert any(torch.equal(choose_code(loaded, 7), codes[i][None]) for i in range(3))
    with pytest.raises(NeuralFaceError, match="appearance frame 3 does not exist.*0-2"):
        choose_code(loaded, "frame:3")
    assert parse_look("frame:12") == ("frame", 12) and parse_look("-3") == ("seed", -3)
    with pytest.raises(NeuralFaceError, match="bad appearance"):
        parse_look("brightest")


def test_the_typical_look_is_the_training_frame_whose_w_offset_lies_nearest_the_mean():
    model = _codes_model()
    with torch.no_grad():  # mean code 0; in code space frame 0 lies nearest it, frame 1 furthest ...
        model.appearance.codes.weight[:] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 3.0, 0.0], [-1.0, -3.0, 0.0]])
        model.appearance.to_w.weight[:, 1] = 0.0  # ... but the code's second axis does not reach W: frame 1's offset is the mean's
    assert parse_look("typical") == ("typical", 0)
    assert typical_frame(model.appearance) == 1
    assert torch.equal(choose_code(model, "typical"), model.appearance.codes.weight[1][None])
    with torch.no_grad():
        model.appearance.to_w.weight[:, 1] = 10.0  # now the second axis dominates W: frame 0 is nearest
    assert typical_frame(model.appearance) == 0


def test_config_without_codes_keeps_its_json_and_half_a_code_setting_is_refused():
    assert "appearance_code_dim" not in tiny_config().to_dict()
    data = tiny_config().to_dict()
    data["appearance_code_dim"] = 4
    with pytest.raises(NeuralFaceError, match="appearance codes need both"):
        ConditionalConfig.from_dict(data)


def test_bundled_default_model_has_no_codes_and_renders_through_the_unchanged_path():
    """The bundled model (no codes) goes through exactly the generator call it always did:
    equal bits to ``generator(z, c, features=encoder(planes))`` at seed 0 and with 'mean'."""
    assert DEFAULT_MODEL.is_file()
    config, state, _ = read_conditional(DEFAULT_MODEL)
    assert config.appearance_code_dim == 0 and not any(key.startswith("appearance.") for key in state)
    face = FaceModel(DEFAULT_MODEL, device="cpu", appearance_seed=0)
    assert face.appearance is None and float(face.z.abs().max()) == 0.0
    size = face.resolution
    y, x = np.mgrid[:size, :size]
    inside = (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 3) ** 2
    normal = np.zeros((size, size, 3), np.float32)
    normal[inside] = (0.2, -0.1, -0.97)
    passes = {"mask": inside.astype(np.float32), "normal": normal, "depth": np.where(inside, 0.6 + 0.0005 * x, np.inf).astype(np.float32),
              "regions": np.where(inside, np.where(y > size * 0.6, 2.0, 1.0), -1.0).astype(np.float32)}
    coefficients = np.linspace(0, 0.6, len(face.coefficient_names), dtype=np.float32)
    rendered = face.render(passes, coefficients)
    net = face.net
    planes = torch.from_numpy(pass_planes(passes, net.config.encoder))[None]
    with torch.no_grad():
        reference = net.generator(torch.zeros([1, net.z_dim]), torch.from_numpy(coefficients)[None],
                                  features=net.encoder(planes), noise_mode=net.config.noise_mode)
    reference = ((reference.clamp(-1, 1) + 1) * 0.5)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(rendered[..., :3], reference)
    assert np.array_equal(FaceModel(DEFAULT_MODEL, device="cpu", appearance_seed="mean").render(passes, coefficients), rendered)
    for look in ("frame:0", "typical"):
        with pytest.raises(CheckpointError, match="no per-frame appearance codes"):
            FaceModel(DEFAULT_MODEL, device="cpu", appearance_seed=look)


def _data(root):
    write_sample_folder(root / "chunk_00000", seed=0)
    write_sample_folder(root / "chunk_00001", seed=1)
    return root


def _config(**overrides):
    settings = dict(steps=4, batch=2, model="tiny", resolution=SIZE, adv_start=1, r1_interval=2, ema_start=1, sample_every=2,
                    log_every=1, checkpoint_minutes=1000, appearance_codes=3)
    settings.update(overrides)
    return TrainConfig(**settings)


def test_training_learns_one_code_per_frame_and_only_for_the_frames_drawn(tmp_path):
    data = _data(tmp_path / "data")
    trainer = Trainer(tmp_path / "run", data, _config(steps=2))
    labels = trainer.model_config.appearance_frames
    assert labels == tuple(f"chunk_0000{k}/{f:04d}" for k in (0, 1) for f in (1, 2, 3, 4))
    assert trainer.model_config.appearance_names == () and trainer.model_config.generator.z_dim == 16  # z is 0: data records unused
    drawn = []
    original = trainer.sampler.next_keys
    trainer.sampler.next_keys = lambda count: drawn.extend(original(count)) or drawn[-count:]
    out = trainer.train_step()
    trainer.train_step()
    assert "prior" in out and out["prior"] == 0.0  # codes start at 0
    moved = {labels[i] for i, row in enumerate(trainer.G.appearance.codes.weight) if float(row.detach().abs().max()) > 0}
    assert moved == {trainer.dataset.label(k) for k in drawn} and len(moved) < len(labels)
    assert len(trainer.opt_G.param_groups) == 3 and trainer.opt_G.param_groups[2]["lr"] == pytest.approx(0.002 * 10)


def test_run_with_codes_resumes_to_identical_state_and_exports_them(tmp_path):
    from tests.core.test_train_loop import _states_equal

    data = _data(tmp_path / "data")
    straight = Trainer(tmp_path / "straight", data, _config(steps=4))
    straight.run()
    Trainer(tmp_path / "resumed", data, _config(steps=2)).run()
    resumed = Trainer(tmp_path / "resumed", data, _config(steps=4), resume=True)
    resumed.run()
    _states_equal(straight.state(), resumed.state())
    assert torch.equal(straight.G.appearance.codes.weight, resumed.G.appearance.codes.weight)
    assert float(resumed.G.appearance.codes.weight.detach().abs().max()) > 0
    ema = load_conditional(tmp_path / "resumed" / "ema.safetensors")
    assert torch.equal(ema.appearance.codes.weight, resumed.G_ema.appearance.codes.weight)
    assert ema.config.appearance_frames == resumed.model_config.appearance_frames
    assert Image.open(tmp_path / "resumed" / "preview.png").size == (3 * SIZE, 8 * SIZE)


def test_resume_keeps_the_code_order_when_new_folders_appear(tmp_path):
    data = _data(tmp_path / "data")
    first = Trainer(tmp_path / "run", data, _config(steps=1))
    first.run()
    write_sample_folder(data / "chunk_00002", seed=2)  # completed after the run started: has no code
    messages = []
    resumed = Trainer(tmp_path / "run", data, _config(steps=2), resume=True, log=messages.append)
    assert resumed.model_config.appearance_frames == first.model_config.appearance_frames
    assert len(resumed.dataset) == 8 and resumed.dataset.frozen
    assert any("4 frames of the data have no appearance code" in m for m in messages)
    resumed.run()
    assert resumed.step == 2


def test_render_command_picks_a_frame_code_or_the_mean(tmp_path):
    model = _codes_model(names=tuple(COEFFICIENTS[:2]))
    path = tmp_path / "actor.safetensors"
    save_conditional(model, path)
    shot = tmp_path / "shot"
    write_shot_folder(shot, n_frames=1)
    images = {}
    for name, extra in {"frame1": ["--appearance-frame", "1"], "frame2": ["--appearance-frame", "2"],
                        "mean": ["--appearance", "mean"], "zero": []}.items():
        code = cli_main(["render", str(shot), "--model", str(path), "--out", str(tmp_path / name), "--device", "cpu", "--json", *extra])
        assert code == 0
        images[name] = np.asarray(Image.open(tmp_path / name / "neural_0001.png"))
    assert np.array_equal(images["mean"], images["zero"])  # seed 0 = the mean code on a model with codes
    assert not np.array_equal(images["frame1"], images["frame2"])
    assert not np.array_equal(images["frame1"], images["mean"])
    assert cli_main(["render", str(shot), "--model", str(path), "--out", str(tmp_path / "bad"), "--device", "cpu", "--json",
                     "--appearance-frame", "3"]) != 0


def test_codes_of_several_data_roots_are_named_by_root_and_a_name_clash_is_refused(tmp_path):
    write_sample_folder(tmp_path / "studio" / "chunk_00000", seed=0)
    write_sample_folder(tmp_path / "outdoor" / "chunk_00000", seed=1)
    trainer = Trainer(tmp_path / "run", [tmp_path / "studio", tmp_path / "outdoor"], _config(steps=1))
    frames = trainer.model_config.appearance_frames
    assert len(set(frames)) == 8 and "outdoor/chunk_00000/0001" in frames and "studio/chunk_00000/0004" in frames
    write_sample_folder(tmp_path / "x" / "data" / "chunk_00000", seed=0)
    write_sample_folder(tmp_path / "y" / "data" / "chunk_00000", seed=1)
    with pytest.raises(NeuralFaceError, match="both named 'data/chunk_00000/0001'"):
        Trainer(tmp_path / "clash", [tmp_path / "x" / "data", tmp_path / "y" / "data"], _config(steps=1))
