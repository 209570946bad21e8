"""The conditional discriminator: equalized learning rate keeps a wide one stable under
Adam; runs made before it keep their layout (found on an H100 on 2026-11-26: the
cuda-512 preset's discriminator blew up within five steps of the adversarial term)."""

import json

import pytest
import torch

from neural_core.train import losses
from neural_core.train.config import TrainConfig, preset_config
from neural_core.train.discriminator import ConditionalDiscriminator


def largest_logits(equalized, channel_base, channel_max, steps=6, size=16):
    """max |logit| after each of ``steps`` Adam steps of the discriminator's loss on two
    fixed batches at the trainer's lr 0.002 (scaled for lazy R1) and beta1 = 0."""
    torch.manual_seed(0)
    D = ConditionalDiscriminator(size, 2, 4, channel_base, channel_max, equalized=equalized)
    opt = torch.optim.Adam(D.parameters(), lr=0.002 * 16 / 17, betas=(0.0, 0.99))
    g = torch.Generator().manual_seed(1)
    real, fake = torch.rand(4, 3, size, size, generator=g), 0.5 * torch.rand(4, 3, size, size, generator=g)
    planes, c = torch.rand(8, 2, size, size, generator=g), torch.rand(8, 4, generator=g)
    history = []
    for _ in range(steps):
        logits = D(torch.cat([real, fake]), planes, c)
        loss = losses.discriminator_adversarial(logits[:4], logits[4:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(logits.detach().abs().max()))
    return history


def test_a_wide_discriminator_stays_bounded_with_equalized_learning_rate():
    wide = 4096, 256  # 256 channels at 16 px and below (the cuda-512 preset's reach 512)
    assert max(largest_logits(False, *wide)) > 1e3  # the layout before: blows up within a few steps
    assert max(largest_logits(True, *wide)) < 10


def test_both_layouts_share_parameters_and_the_forward_pass_scales_the_weights():
    plain, equalized = (ConditionalDiscriminator(32, 2, 4, 4096, 256, equalized=e) for e in (False, True))
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in equalized.state_dict().items()}
    weight = equalized.blocks[0].conv0.weight.detach()
    assert abs(float(weight.std()) - 1.0) < 0.05 and equalized.blocks[0].conv0.gain == pytest.approx(1 / (weight[0].numel() ** 0.5))
    assert plain.blocks[0].conv0.gain == 1.0
    # an equalized layer is the plain layer with the weight scaled by its gain
    x = torch.rand(2, 3 + 2, 32, 32)
    layer = equalized.from_input
    reference = torch.nn.functional.conv2d(x, layer.weight * layer.gain, layer.bias)
    torch.testing.assert_close(layer(x), reference)


def test_both_presets_equalize_and_runs_saved_before_keep_their_layout():
    assert preset_config("cuda-512").d_equalized and preset_config("cpu-256").d_equalized
    saved = json.loads(TrainConfig(d_channel_base=16384, d_channel_max=512).to_json())
    del saved["d_equalized"]  # a run's config.json from before the setting
    assert TrainConfig.from_dict(saved).d_equalized is False
