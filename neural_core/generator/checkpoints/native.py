"""Our checkpoint format: safetensors weights + the GeneratorConfig as JSON in the metadata.

Loading reads a JSON header and raw tensor bytes; nothing is ever unpickled.
Metadata keys: ``format`` = "neural_face.generator", ``format_version`` = "1",
``config`` = GeneratorConfig JSON, ``source_format`` (where the weights came from).
The state dict uses NVlabs' key names (``mapping.fc0.weight``, ``synthesis.b4.const``,
``synthesis.b8.conv0.affine.weight``, ...), without the fixed FIR filter buffers.
"""

import json
from pathlib import Path

from ...contract.atomic import write_atomically
from ...contract.errors import CheckpointError, NeuralFaceError
from ..config import GeneratorConfig

FORMAT = "neural_face.generator"
FORMAT_VERSION = "1"


def read_safetensors(path: Path) -> tuple[dict, dict]:
    """(metadata dict[str, str], tensors dict[str, Tensor]) of a safetensors file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # SafetensorError, OSError, ...: the file is not readable
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from error
    return metadata, tensors


def is_native(metadata: dict) -> bool:
    return metadata.get("format") == FORMAT


def read_native(path: Path, metadata: dict, tensors: dict) -> tuple[GeneratorConfig, dict]:
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: generator format version {version!r} is not supported (expected {FORMAT_VERSION})")
    try:
        config = GeneratorConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, ValueError, TypeError, NeuralFaceError) as error:
        raise CheckpointError(f"{path}: bad 'config' in the safetensors metadata ({error})") from error
    return config, tensors


def write_native(path, config: GeneratorConfig, state_dict: dict, source_format: str = "neural_face") -> None:
    """Write atomically: to ``<path>.tmp-<pid>`` first, then rename."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {key: value.detach().to("cpu").contiguous() for key, value in state_dict.items()}
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_json(),
        "source_format": source_format,
    }
    write_atomically(path, lambda temporary: save_file(tensors, str(temporary), metadata=metadata))
