"""One interface over the models the renderer can run.

- the bundled default / any Neural Face conditional model (``neural_face.conditional``
  safetensors): passes + coefficients + appearance latent -> face;
- any StyleGAN2 checkpoint the generator core loads (ours, rosinality ``.pt``, NVlabs
  ``.pkl``): unconditional, the appearance seed picks the face; the rig only gives alpha.

Both render a square image at the model's resolution; :class:`FaceModel` maps the shot's
frame (any size and aspect) onto that square by padding it to a centred square and
resizing, and maps the result back, so output frames match the shot's resolution.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import DEFAULT_MODEL  # the worker's default --model (defined torch-free in the package)
from ..contract.errors import CheckpointError
from ..face_model.checkpoint import is_face_model
from ..face_model.resample import resize_planes
from .manifest import file_sha256


def resolve_model_path(spec):
    """``"default"`` / None -> the bundled model; anything else is a path."""
    if spec in (None, "", "default"):
        if not DEFAULT_MODEL.is_file():
            raise CheckpointError(
                f"{DEFAULT_MODEL}: the bundled default model is missing from this installation; pass --model PATH to a checkpoint"
            )
        return DEFAULT_MODEL
    path = Path(spec).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: model file not found")
    return path


@dataclass
class Square:
    """How a W x H frame sits in the centred square of side max(W, H)."""

    width: int
    height: int

    @property
    def side(self):
        return max(self.width, self.height)

    @property
    def offset(self):
        return (self.side - self.width) // 2, (self.side - self.height) // 2

    def to_model(self, planes, resolution):
        """[C, H, W] numpy -> [1, C, R, R] tensor (zero padding = background)."""
        x0, y0 = self.offset
        square = np.zeros((planes.shape[0], self.side, self.side), dtype=np.float32)
        square[:, y0 : y0 + self.height, x0 : x0 + self.width] = planes
        tensor = torch.from_numpy(square)[None]
        return resize_planes(tensor, resolution)

    def from_model(self, rgb):
        """[1, 3, R, R] tensor in [0, 1] -> [H, W, 3] numpy at the frame's size."""
        if rgb.shape[-1] != self.side:
            rgb = F.interpolate(rgb, size=(self.side, self.side), mode="bicubic", align_corners=False)
        x0, y0 = self.offset
        crop = rgb[0, :, y0 : y0 + self.height, x0 : x0 + self.width].clamp(0, 1)
        return crop.permute(1, 2, 0).cpu().numpy()


class FaceModel:
    """A loaded model; :meth:`render` turns one frame's passes + coefficients into RGBA."""

    def __init__(self, path, device="auto", appearance_seed=0, truncation_psi=1.0):
        from ..generator.device import resolve_device

        self.path = Path(path)
        self.sha256 = file_sha256(self.path)
        self.device, self.device_note = resolve_device(device)
        self.truncation_psi = float(truncation_psi)
        from ..contract.looks import CODE_ONLY, parse_look
        from ..face_model.appearance import choose_code

        kind, number = parse_look(appearance_seed)  # a seed, "mean", or "typical" / "frame:N" (models with appearance codes)
        seed = torch.Generator().manual_seed(number if kind == "seed" else 0)  # fixed per shot: same face every frame
        median = kind == "mean" or (
            kind == "seed" and number == 0
        )  # seed 0 / mean = z = 0: the model's median look (skin, light); others draw z ~ N(0, 1)
        self.appearance = None  # a model with per-frame appearance codes renders one code (face_model/appearance.py)
        if is_face_model(self.path):
            from ..face_model.checkpoint import load_conditional

            self.kind = "conditional"
            self.net = load_conditional(self.path, device=self.device)
            self.resolution = self.net.resolution
            self.coefficient_names = list(self.net.config.coefficient_names)
            if self.net.appearance is not None:
                self.appearance = choose_code(self.net, appearance_seed, self.path.name).to(self.device)
                median = True  # such a model was trained with z = 0
            self.z = (torch.zeros([1, self.net.z_dim]) if median else torch.randn([1, self.net.z_dim], generator=seed)).to(self.device)
        else:
            from ..generator.checkpoints import load_generator

            self.kind = "generator"
            self.net = load_generator(self.path, device=str(self.device))
            self.resolution = self.net.config.resolution
            self.coefficient_names = []
            self.z = (torch.zeros([1, self.net.config.z_dim]) if median else torch.randn([1, self.net.config.z_dim], generator=seed)).to(
                self.device
            )
            if self.net.config.c_dim:
                raise CheckpointError(
                    f"{self.path}: a class-conditional StyleGAN2 (c_dim={self.net.config.c_dim}) "
                    "cannot be driven by a face rig; use an unconditional checkpoint"
                )
        if kind in CODE_ONLY and self.appearance is None:
            raise CheckpointError(
                f"{self.path}: this model has no per-frame appearance codes (it was trained without "
                "--appearance-codes); choose its look with --appearance SEED or mean"
            )

    @property
    def needed_passes(self):
        if self.kind == "conditional":
            return self.net.config.encoder.read_passes()
        return ["mask"]

    def describe(self):
        out = {"path": str(self.path), "kind": self.kind, "resolution": self.resolution, "sha256": self.sha256, "device": str(self.device)}
        held = getattr(self.net, "held", None)
        if held:  # an actor model: its identity inputs are held (face_model/held_inputs.py)
            out["held_inputs"] = held.describe()
        return out

    @torch.no_grad()
    def render(self, passes, coefficients, frame=None):
        """passes: canonical dict at the shot's size; coefficients: [c_dim] float32 in
        the model's order -> RGBA [H, W, 4] float32 in [0, 1], sRGB, straight alpha."""
        mask = np.clip(np.asarray(passes["mask"], dtype=np.float32), 0.0, 1.0)
        square = Square(width=mask.shape[1], height=mask.shape[0])
        if self.kind == "conditional":
            from ..face_model.inputs import pass_planes

            planes = square.to_model(pass_planes(passes, self.net.config.encoder, frame=frame), self.resolution)
            c = torch.from_numpy(np.asarray(coefficients, dtype=np.float32))[None].to(self.device)
            codes = {} if self.appearance is None else {"appearance": self.appearance}
            rgb = self.net(planes.to(self.device), c, self.z, truncation_psi=self.truncation_psi, **codes)  # its own noise mode
        else:
            rgb = self.net(self.z, truncation_psi=self.truncation_psi, noise_mode="const")
        rgb = (rgb.float().clamp(-1, 1) + 1) * 0.5
        colour = square.from_model(rgb.cpu())
        return np.concatenate([colour, mask[..., None]], axis=-1).astype(np.float32)
