"""Reading and writing generator checkpoints.

Formats (detected from the file's first bytes, not its name):

- ``neural_face``: our safetensors file, config JSON in the metadata (``native.py``);
- ``nvlabs-safetensors``: an NVlabs ``Generator.state_dict()`` in safetensors with
  ``init_kwargs`` in the metadata (``nvlabs.py``);
- ``rosinality``: ``torch.save`` zip or legacy file with ``g_ema`` (``rosinality.py``);
- ``nvlabs-pickle``: NVlabs training snapshot, read by a restricted unpickler
  (``nvlabs.py``). Nothing in any format is ever executed.
"""

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ...contract.errors import CheckpointError, NeuralFaceError

TORCH_ZIP_MAGIC = b"PK\x03\x04"
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # pickled 0x1950a86a20f9469cfc6c


@dataclass
class Checkpoint:
    """What a checkpoint file holds, in our terms."""

    config: object  # GeneratorConfig
    state_dict: dict  # our key names -> tensors
    source_format: str  # neural_face | nvlabs-safetensors | nvlabs-pickle | rosinality
    path: Path
    info: dict = field(default_factory=dict)  # format-specific notes (init_kwargs, ...)


def detect_format(path) -> str:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not head:
        raise CheckpointError(f"{path}: the file is empty")
    if head.startswith(TORCH_ZIP_MAGIC) or head.startswith(TORCH_LEGACY_MAGIC):
        return "rosinality"
    # safetensors before pickle: its header length comes first, and a length whose low byte is
    # 0x80 (e.g. 10,112) starts the file with pickle's protocol byte
    if len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < path.stat().st_size:
        return "safetensors"
    if head[:1] == b"\x80":
        return "nvlabs-pickle"
    raise CheckpointError(f"{path}: unknown checkpoint format (not safetensors, a torch file or a pickle)")


def read_checkpoint(path) -> Checkpoint:
    """Read any supported file into a :class:`Checkpoint` (CPU tensors)."""
    path = Path(path)
    kind = detect_format(path)
    if kind == "rosinality":
        from .rosinality import read_rosinality

        config, state, info = read_rosinality(path)
        return Checkpoint(config, state, "rosinality", path, info)
    if kind == "nvlabs-pickle":
        from .nvlabs import read_nvlabs_pickle

        config, state, info = read_nvlabs_pickle(path)
        return Checkpoint(config, state, "nvlabs-pickle", path, info)
    from . import native, nvlabs

    metadata, tensors = native.read_safetensors(path)
    if native.is_native(metadata):
        config, state = native.read_native(path, metadata, tensors)
        return Checkpoint(config, state, "neural_face", path, {"source_format": metadata.get("source_format")})
    if "init_kwargs" in metadata or "synthesis.b4.const" in tensors:
        try:
            init_kwargs = json.loads(metadata.get("init_kwargs", "{}"))
        except ValueError as error:
            raise CheckpointError(f"{path}: bad 'init_kwargs' JSON in the metadata ({error})") from error
        config, state = nvlabs.convert_state_dict(tensors, init_kwargs, path)
        return Checkpoint(config, state, "nvlabs-safetensors", path, {"init_kwargs": init_kwargs})
    raise CheckpointError(f"{path}: safetensors file without generator metadata (format or init_kwargs)")


def build_generator(checkpoint: Checkpoint, impl: str = "fast"):
    """A float32 CPU :class:`Generator` in eval mode with the checkpoint's weights."""
    import torch

    from ..generator import Generator
    from .rosinality import estimate_w_avg

    generator = Generator(checkpoint.config, impl=impl)
    state = dict(checkpoint.state_dict)
    estimate = "mapping.w_avg" not in state
    if estimate:
        state["mapping.w_avg"] = torch.zeros([checkpoint.config.w_dim])
    expected = generator.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else ""))
        if unexpected:
            parts.append("unexpected " + ", ".join(unexpected[:6]) + (" ..." if len(unexpected) > 6 else ""))
        raise CheckpointError(f"{checkpoint.path}: tensors do not match the architecture ({'; '.join(parts)})")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(f"{checkpoint.path}: tensor '{key}' has shape {list(value.shape)}, expected {list(expected[key].shape)}")
    generator.load_state_dict({k: v.float() for k, v in state.items()})
    generator.source_format = checkpoint.source_format
    generator.eval().requires_grad_(False)
    if estimate:
        generator.mapping.w_avg.copy_(estimate_w_avg(generator))
    return generator


def load_generator(path, device="auto", *, precision: str = "float32", impl: str = "fast", verbose: bool = False):
    """Load any supported checkpoint as an eval-mode :class:`Generator` on ``device``.

    device: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N", "mps".
    precision: "float32"; "float16" / "bfloat16" are CUDA-only (elsewhere: a warning and
    float32). impl: "fast" or "reference" synthesis. ``generator.device_note`` says which
    device was chosen and why; ``verbose`` also prints it.
    """
    from ..device import resolve_device, resolve_precision

    if impl not in ("fast", "reference"):
        raise NeuralFaceError(f"impl must be 'fast' or 'reference', got {impl!r}")
    torch_device, note = resolve_device(device)
    dtype = resolve_precision(precision, torch_device)
    generator = build_generator(read_checkpoint(path), impl=impl)
    generator = generator.to(device=torch_device, dtype=dtype)
    generator.device_note = note
    if verbose:
        print(note)
    return generator


def save_generator(module, path) -> None:
    """Write ``module`` (a :class:`Generator`) in our safetensors format, atomically."""
    from .native import write_native

    state = {k: v.float() for k, v in module.state_dict().items()}
    write_native(path, module.config, state, getattr(module, "source_format", "neural_face"))
