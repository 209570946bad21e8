"""rosinality/stylegan2-pytorch checkpoints: ``{"g_ema": state_dict, "latent_avg": [S]}``.

Read with ``torch.load(weights_only=True)``; ``argparse.Namespace`` (the ``args`` entry of
checkpoints written by its ``train.py``) is the one extra global allowed. Only ``g_ema``
and ``latent_avg`` are used. The architecture is inferred from tensor shapes; the
mapping lr multiplier is not stored and is assumed to be the constructor default 0.01.
Keys are renamed (and singleton dims dropped) to our NVlabs-style names; no value changes.
"""

import argparse
import pickle
import re
from collections import OrderedDict
from pathlib import Path

import torch

from ...contract.errors import CheckpointError
from ..config import GeneratorConfig

LATENT_AVG_SAMPLES = 4096  # z samples used to estimate latent_avg when the file has none
LATENT_AVG_SEED = 0


def read_torch_file(path: Path):
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(
            f"{path}: refused to load: the file holds objects other than plain tensors and containers ({first})"
        ) from None
    except Exception as error:  # RuntimeError (bad zip), EOFError, ...
        raise CheckpointError(f"{path}: corrupt or truncated torch file ({type(error).__name__}: {error})") from None


def _count(state, pattern):
    return len({m.group(1) for k in state if (m := re.fullmatch(pattern, k))})


def convert_state_dict(g_ema: dict, path) -> tuple[GeneratorConfig, "OrderedDict", list[str]]:
    """rosinality g_ema state dict -> (config, our state dict, keys left unused)."""
    state = dict(g_ema)

    def take(key):
        if key not in state:
            raise CheckpointError(f"{path}: 'g_ema' is missing tensor '{key}'")
        value = state.pop(key)
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: 'g_ema.{key}' is not a tensor")
        return value.detach().float()

    n_mlp = _count(state, r"style\.(\d+)\.weight")
    num_up = _count(state, r"to_rgbs\.(\d+)\.conv\.weight")
    if n_mlp == 0 or "input.input" not in state:
        raise CheckpointError(f"{path}: 'g_ema' does not look like a rosinality StyleGAN2 generator")
    style_dim = int(state["style.1.weight"].shape[1])
    resolution = 2 ** (2 + num_up)
    out = OrderedDict()
    for i in range(n_mlp):
        out[f"mapping.fc{i}.weight"] = take(f"style.{i + 1}.weight")
        out[f"mapping.fc{i}.bias"] = take(f"style.{i + 1}.bias")
    const = take("input.input")
    out["synthesis.b4.const"] = const[0]
    channels = {4: int(const.shape[1])}
    taps = (1.0, 3.0, 3.0, 1.0)

    def conv(src, dst, noise_key):
        out[f"{dst}.weight"] = take(f"{src}.conv.weight")[0]
        out[f"{dst}.bias"] = take(f"{src}.activate.bias")
        out[f"{dst}.noise_strength"] = take(f"{src}.noise.weight").reshape([])
        out[f"{dst}.noise_const"] = take(noise_key)[0, 0]
        out[f"{dst}.affine.weight"] = take(f"{src}.conv.modulation.weight")
        out[f"{dst}.affine.bias"] = take(f"{src}.conv.modulation.bias")
        return out[f"{dst}.weight"].shape[0]

    def torgb(src, dst):
        out[f"{dst}.weight"] = take(f"{src}.conv.weight")[0]
        out[f"{dst}.bias"] = take(f"{src}.bias").reshape(-1)
        out[f"{dst}.affine.weight"] = take(f"{src}.conv.modulation.weight")
        out[f"{dst}.affine.bias"] = take(f"{src}.conv.modulation.bias")

    conv("conv1", "synthesis.b4.conv1", "noises.noise_0")
    torgb("to_rgb1", "synthesis.b4.torgb")
    for k in range(num_up):
        res = 2 ** (k + 3)
        blur = state.pop(f"convs.{2 * k}.conv.blur.kernel", None)
        state.pop(f"to_rgbs.{k}.upsample.kernel", None)
        if blur is not None and k == 0:
            row = blur.double()[0]
            taps = tuple(float(t) for t in row / row[0])
        channels[res] = conv(f"convs.{2 * k}", f"synthesis.b{res}.conv0", f"noises.noise_{2 * k + 1}")
        conv(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", f"noises.noise_{2 * k + 2}")
        torgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb")
    try:
        config = GeneratorConfig(
            resolution=resolution,
            z_dim=style_dim,
            w_dim=style_dim,
            mapping_layers=n_mlp,
            mapping_lr_multiplier=0.01,
            channels=channels,
            resample_filter=taps,
            img_channels=int(out["synthesis.b4.torgb.weight"].shape[0]),
        )
    except Exception as error:
        raise CheckpointError(f"{path}: cannot build a config from this checkpoint ({error})") from error
    return config, out, sorted(state)


def read_rosinality(path: Path) -> tuple[GeneratorConfig, "OrderedDict", dict]:
    """(config, our state dict, info). ``mapping.w_avg`` comes from ``latent_avg``, or is
    estimated (mean mapping output over 4096 seeded z) when the file has none."""
    data = read_torch_file(path)
    if not isinstance(data, dict) or "g_ema" not in data:
        keys = ", ".join(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: expected a dict with 'g_ema' (rosinality format), got {keys}")
    if not isinstance(data["g_ema"], dict):
        raise CheckpointError(f"{path}: 'g_ema' is not a state dict")
    config, state, unused = convert_state_dict(data["g_ema"], path)
    if unused:
        raise CheckpointError(f"{path}: unexpected tensors in 'g_ema': {', '.join(unused[:8])}")
    info = {"checkpoint_keys": sorted(map(str, data))}
    latent_avg = data.get("latent_avg")
    if latent_avg is not None:
        if not isinstance(latent_avg, torch.Tensor) or latent_avg.numel() != config.w_dim:
            raise CheckpointError(f"{path}: 'latent_avg' must be a tensor of {config.w_dim} values")
        state["mapping.w_avg"] = latent_avg.detach().float().reshape(config.w_dim)
        info["latent_avg"] = "from file"
    else:
        info["latent_avg"] = f"estimated from {LATENT_AVG_SAMPLES} z (seed {LATENT_AVG_SEED})"
    return config, state, info


def estimate_w_avg(generator) -> torch.Tensor:
    """Mean mapping output over LATENT_AVG_SAMPLES seeded z, [w_dim]."""
    g = torch.Generator().manual_seed(LATENT_AVG_SEED)
    z = torch.randn([LATENT_AVG_SAMPLES, generator.z_dim], generator=g).to(generator.mapping.w_avg)
    with torch.no_grad():
        return generator.mapping(z)[:, 0].mean(dim=0)
