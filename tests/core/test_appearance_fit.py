"""A held-out frame's look fitted on the left half of the image, measured on the right half."""

import numpy as np
import torch

from neural_core.evaluation import actor_figures
from neural_core.evaluation.appearance_fit import fit_codes, half_psnr, halves, render_with_codes
from tests.core.test_appearance_codes import _codes_model, _inputs


def test_halves_split_the_columns():
    fit, measured = halves(4)
    assert fit[:, :2].all() and not fit[:, 2:].any() and np.array_equal(measured, 1 - fit)


def test_the_fit_finds_a_frames_look_and_leaves_the_model_alone():
    model = _codes_model().requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    planes, c, z = _inputs(model, n=3)
    true_codes = 1.5 * torch.randn([3, 3], generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        targets = model(planes, c, z, appearance=true_codes)
    masks = np.ones([3, 1, 32, 32], dtype=np.float32)
    fit, measured = halves(32)
    arrays = planes.numpy(), c.numpy(), targets.numpy()
    mean_look = render_with_codes(model, arrays[0], arrays[1], model.appearance.mean()[None].repeat(3, 1).numpy())
    codes = fit_codes(model, *arrays, masks, fit, steps=60, prior=0.0)  # true codes far outside the 3 training codes
    fitted = render_with_codes(model, arrays[0], arrays[1], codes)
    truth = ((targets.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    head = masks[:, 0]
    assert half_psnr(fitted, truth, head, measured) > half_psnr(mean_look, truth, head, measured) + 6  # the look generalises
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_half_psnr_reads_only_the_measured_half():
    target = np.full([1, 8, 8, 3], 100, dtype=np.uint8)
    image = target.copy()
    image[:, :, :4] = 0  # garbage on the fit half
    image[:, :, 4:] = 110
    fit, measured = halves(8)
    mask = np.ones([1, 8, 8], dtype=np.float32)
    assert abs(half_psnr(image, target, mask, measured) - 10 * np.log10(1 / (10 / 255) ** 2)) < 1e-9


def test_the_fitted_look_is_judged_beside_the_mean_look():
    actor = {"psnr_db": 15.0, "psnr_db_fitted_look": 23.0, "psnr_db_mean_look_right_half": 14.0, "skin_colour_de2000_max": 2.0}
    found = actor_figures.verdicts(actor, None, {})
    assert found["psnr_db"]["met"] is False and found["psnr_db_fitted_look"]["met"] is True
    assert found["psnr_db_fitted_look"]["mean_look_same_pixels"] == 14.0


def test_the_code_prior_is_the_training_codes_gaussian():
    from neural_core.evaluation.appearance_fit import code_prior

    codes = torch.randn([200, 3], generator=torch.Generator().manual_seed(1)) @ torch.tensor([[2.0, 0, 0], [0.5, 1, 0], [0, 0, 0.1]])
    mean, inverse = code_prior(codes)
    assert torch.allclose(mean, codes.mean(0))
    assert torch.allclose(inverse @ torch.cov(codes.T), torch.eye(3), atol=1e-3)
    _, untrained = code_prior(torch.ones([5, 3]))  # no frame moved: no prior
    assert torch.equal(untrained, torch.zeros(3, 3))


def test_the_prior_holds_the_fitted_look_near_the_training_looks():
    model = _codes_model().requires_grad_(False)
    with torch.no_grad():  # training codes spread along one axis only
        model.appearance.codes.weight.copy_(torch.tensor([[t, 0.0, 0.0] for t in np.linspace(-1, 1, len(model.appearance.codes.weight))]))
    planes, c, z = _inputs(model, n=2)
    with torch.no_grad():
        targets = model(planes, c, z, appearance=torch.tensor([[0.5, 1.5, -1.5], [-0.5, -1.5, 1.5]]))
    arrays = planes.numpy(), c.numpy(), targets.numpy()
    masks, (fit, _) = np.ones([2, 1, 32, 32], dtype=np.float32), halves(32)
    free = fit_codes(model, *arrays, masks, fit, steps=40, prior=0.0)
    held = fit_codes(model, *arrays, masks, fit, steps=40, prior=10.0)
    # off the training axis the prior pulls the codes back; without it they follow the targets
    assert np.abs(held[:, 1:]).max() < 0.2 < np.abs(free[:, 1:]).mean()
