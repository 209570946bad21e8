"""Device choice: "auto" picks CUDA, then Apple MPS, then CPU, and says which."""

import warnings

import torch

from ..contract.errors import NeuralFaceError

PRECISIONS = ("float32", "float16", "bfloat16")


def resolve_device(name: str = "auto") -> tuple[torch.device, str]:
    """Returns (device, a one-line explanation of the choice)."""
    name = str(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda"), f"auto: using CUDA ({torch.cuda.get_device_name(0)})"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps"), "auto: using Apple MPS (no CUDA device found)"
        return torch.device("cpu"), f"auto: using CPU, {torch.get_num_threads()} threads (no CUDA or MPS device found)"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise NeuralFaceError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NeuralFaceError(f"device {name!r} requested but CUDA is not available here")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise NeuralFaceError(f"device {name!r} requested but MPS is not available here")
    if device.type == "cpu":
        return device, f"using CPU (requested), {torch.get_num_threads()} thread(s)"
    return device, f"using {device} (requested)"


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """float16 / bfloat16 are CUDA-only options: elsewhere they warn and fall back to float32.

    On CPUs without native half support, half-precision convolutions run on a slow path
    (measured about 180x slower), so they never pay off there.
    """
    if precision not in PRECISIONS:
        raise NeuralFaceError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "float32":
        return torch.float32
    if device.type != "cuda":
        warnings.warn(f"precision={precision!r} is a CUDA-only option; using float32 on {device.type}", RuntimeWarning, stacklevel=3)
        return torch.float32
    return torch.float16 if precision == "float16" else torch.bfloat16
