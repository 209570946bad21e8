"""Neural Face neural core: the shot-folder format, the worker protocol and the generator.

This package never imports Blender, and importing it never imports torch: the torch
parts (``generator``, ``worker``, ``train``, ...) load on first use, so the Blender add-on
can reuse the torch-free contract (``contract/``) inside Blender's Python.
"""

from pathlib import Path

__version__ = "0.1.0"
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default.safetensors"  # the bundled face model


def load_generator(path, device="auto", **options):
    """Load a generator checkpoint (ours, rosinality ``.pt`` or NVlabs ``.pkl``).

    Returns a ``torch.nn.Module``; see :mod:`neural_core.generator.checkpoints`.
    """
    from .generator.checkpoints import load_generator as _load

    return _load(path, device=device, **options)
