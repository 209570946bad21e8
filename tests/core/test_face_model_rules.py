"""Rules the worker, the trainer and the evaluation share: one definition each."""

import torch

from neural_core.face_model.checkpoint import is_face_model
from neural_core.face_model.config import EncoderConfig
from neural_core.face_model.resample import resize_planes
from neural_core.worker.model import DEFAULT_MODEL


def test_a_frame_needs_the_encoders_passes_and_the_mask():
    assert EncoderConfig(passes=("normal", "depth")).read_passes() == ["depth", "mask", "normal"]
    assert EncoderConfig().read_passes() == sorted(set(EncoderConfig().passes))  # mask already among them


def test_resize_averages_when_shrinking_and_interpolates_when_enlarging():
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1.0  # one-pixel stripes: area keeps their mean, sampling would alias
    assert torch.allclose(resize_planes(stripes, 2), torch.full((1, 1, 2, 2), 0.5))
    ramp = torch.arange(2.0).reshape(1, 1, 1, 2).expand(1, 1, 2, 2)
    grown = resize_planes(ramp, 4)
    assert grown.shape[-1] == 4 and torch.all(grown[..., 1:] >= grown[..., :-1])
    assert resize_planes(stripes, 4) is stripes


def test_the_bundled_model_is_a_face_model_and_a_stylegan_file_is_not(tmp_path):
    assert is_face_model(DEFAULT_MODEL)
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "plain.safetensors"), metadata={"format": "something else"})
    assert not is_face_model(tmp_path / "plain.safetensors")
