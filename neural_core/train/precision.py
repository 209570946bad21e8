"""Mixed precision for training: ``torch.autocast`` around the forward passes, and a
GradScaler per optimiser when the dtype is float16.

``TrainConfig.precision``:

- ``float32``: no autocast (the CPU default: a 2-core CPU without bfloat16 units gains nothing);
- ``bfloat16``: autocast to bfloat16 (CUDA cards from Ampere on; on a CPU it runs, which the
  tests use, but is slow without AVX512-BF16/AMX); float32's range, so no loss scaling;
- ``float16``: autocast to float16 with dynamic loss scaling (CUDA only);
- ``auto``: bfloat16 on CUDA cards that support it, float16 on older ones, float32 elsewhere.

Weights, optimiser states, the EMA and the losses stay float32; only the convolutions and
matrix products of the generator and discriminator run in the lower precision.
"""

import contextlib

import torch

from ..contract.errors import NeuralFaceError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve(name: str, device: torch.device) -> torch.dtype:
    """The autocast dtype for ``name`` on ``device``."""
    if name == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name not in DTYPES:
        raise NeuralFaceError(f"precision must be one of {', '.join([*DTYPES, 'auto'])}, got {name!r}")
    if name == "float16" and device.type != "cuda":
        raise NeuralFaceError(f"precision float16 needs a CUDA device (training on {device.type}); use bfloat16 or float32")
    return DTYPES[name]


class Precision:
    """Autocast context and loss scaling for the generator ("G") and discriminator ("D") steps."""

    def __init__(self, name: str, device: torch.device):
        self.device = device
        self.dtype = resolve(name, device)
        self.name = {v: k for k, v in DTYPES.items()}[self.dtype]
        scaling = self.dtype == torch.float16
        self.scalers = {part: torch.amp.GradScaler(device.type, enabled=scaling) for part in ("G", "D")}

    @property
    def scaling(self) -> bool:
        return self.scalers["G"].is_enabled()

    def autocast(self):
        """Context for a forward pass (a no-op in float32)."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def scale(self, part: str) -> float:
        """The current loss scale of ``part`` (1.0 unless float16)."""
        scaler = self.scalers[part]
        return float(scaler.get_scale()) if scaler.is_enabled() else 1.0

    def backward(self, loss, part: str):
        self.scalers[part].scale(loss).backward()

    def step(self, optimizer, part: str):
        """Optimiser step (skipped by the scaler when float16 gradients overflowed), then rescale."""
        scaler = self.scalers[part]
        scaler.step(optimizer)
        scaler.update()

    def state_dict(self) -> dict:
        return {part: scaler.state_dict() for part, scaler in self.scalers.items() if scaler.is_enabled()}

    def load_state_dict(self, state: dict):
        for part, scaler_state in (state or {}).items():
            if self.scalers[part].is_enabled() and scaler_state:
                self.scalers[part].load_state_dict(scaler_state)
