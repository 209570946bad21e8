"""Saving and loading a ConditionalModel: safetensors + config JSON in the metadata.

The layout follows the generator's native format (``generator/checkpoints/native.py``):
same ``read_safetensors``, atomic write to a temporary name then rename, nothing
unpickled. Metadata: ``format`` = "neural_face.conditional", ``format_version`` = "1",
``config`` = the generator's GeneratorConfig JSON (as in the generator format),
``conditional`` = the full ConditionalConfig JSON (generator + encoder + names),
``info`` = free JSON (training steps, data recipe ...). Tensor keys: the generator's
keys prefixed ``generator.``, the encoder's ``encoder.``. ``dtype`` float16 halves the
file (the weights load back as float32).
"""

import json
from pathlib import Path

from ..contract.atomic import write_atomically
from ..contract.errors import CheckpointError, NeuralFaceError

FORMAT = "neural_face.conditional"
FORMAT_VERSION = "1"


def is_face_model(path) -> bool:
    """Whether ``path`` is a Neural Face conditional face model (safetensors with our format
    tag), as opposed to a plain StyleGAN2 generator. Reads only the file's header."""
    from ..generator.checkpoints import detect_format
    from ..generator.checkpoints.native import read_safetensors

    return detect_format(path) == "safetensors" and read_safetensors(path)[0].get("format") == FORMAT


def save_conditional(model, path, info: dict | None = None, dtype: str = "float32") -> None:
    """Write ``model`` (a ConditionalModel) to ``path`` atomically. dtype: "float32" or "float16"."""
    import torch
    from safetensors.torch import save_file

    if dtype not in ("float32", "float16"):
        raise NeuralFaceError(f"dtype must be float32 or float16, got {dtype!r}")
    torch_dtype = torch.float16 if dtype == "float16" else torch.float32
    tensors = {}
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu")
        if value.is_floating_point() and not key.endswith("w_avg"):
            value = value.to(torch_dtype)
        tensors[key] = value.contiguous()
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.generator.to_json(),
        "conditional": model.config.to_json(),
        "info": json.dumps(info or {}, sort_keys=True, default=str),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda temporary: save_file(tensors, str(temporary), metadata=metadata))


def read_conditional(path):
    """(ConditionalConfig, state dict of float32 tensors, info dict) from a file; CheckpointError if unusable."""
    from ..generator.checkpoints import detect_format
    from ..generator.checkpoints.native import read_safetensors
    from .config import ConditionalConfig

    path = Path(path)
    if detect_format(path) != "safetensors":
        raise CheckpointError(f"{path}: not a safetensors file (a conditional model is stored as safetensors)")
    metadata, tensors = read_safetensors(path)
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a conditional face model (format {metadata.get('format')!r}, expected {FORMAT!r})")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: conditional format version {metadata.get('format_version')!r} is not supported (expected {FORMAT_VERSION})"
        )
    try:
        config = ConditionalConfig.from_dict(json.loads(metadata["conditional"]))
        info = json.loads(metadata.get("info", "{}"))
    except (KeyError, ValueError, TypeError, NeuralFaceError) as error:
        raise CheckpointError(f"{path}: bad 'conditional' config in the safetensors metadata ({error})") from error
    return config, {k: v.float() for k, v in tensors.items()}, info


def load_conditional(path, device="cpu", impl: str = "fast"):
    """An eval-mode float32 ConditionalModel on ``device`` ("auto", "cpu", "cuda" ...); ``model.info`` holds the metadata info,
    ``model.held`` the inputs it holds (``held_inputs.py``)."""
    from ..generator.device import resolve_device
    from .held_inputs import HeldInputs
    from .model import ConditionalModel

    config, state, info = read_conditional(path)
    model = ConditionalModel(config, impl=impl)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: tensors do not match the architecture (missing {missing[:4]}, unexpected {unexpected[:4]})")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(f"{path}: tensor '{key}' has shape {list(value.shape)}, expected {list(expected[key].shape)}")
    model.load_state_dict(state)
    torch_device, note = resolve_device(device)
    model = model.to(torch_device).eval().requires_grad_(False)
    model.info = info
    try:
        model.held = HeldInputs(info, config.coefficient_names)
    except ValueError as error:
        raise CheckpointError(f"{path}: bad 'held_inputs' in the model's info ({error})") from error
    model.device_note = note
    return model
