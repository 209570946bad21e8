"""GeneratorConfig: every number that fixes the shape of a StyleGAN2-family generator.

The config is a plain dataclass so it can travel as JSON (inside our safetensors
checkpoints' metadata) without pickling anything.
"""

import json
import math
from dataclasses import asdict, dataclass, field

from ..contract.errors import NeuralFaceError


@dataclass
class GeneratorConfig:
    """Architecture of a StyleGAN2 generator with the "skip" (ToRGB sum) output.

    ``channels`` is filled from ``channel_base`` / ``channel_max`` when left empty
    (NVlabs' rule ``min(channel_base // res, channel_max)``); foreign checkpoints store the
    channel count of every resolution explicitly, read from their tensor shapes.
    """

    resolution: int = 256  # output image side in pixels (power of two, >= 4)
    z_dim: int = 512  # input latent size (0 not supported)
    w_dim: int = 512  # intermediate latent (style) size
    c_dim: int = 0  # conditioning vector size (0 = unconditional)
    img_channels: int = 3  # output image channels (RGB)
    mapping_layers: int = 8  # fully connected layers in the mapping network
    mapping_lr_multiplier: float = 0.01  # runtime gain applied to the raw mapping weights and biases
    embed_features: int | None = None  # size of the embedded c (None = w_dim)
    layer_features: int | None = None  # hidden width of the mapping network (None = w_dim)
    channel_base: int = 32768  # channels at resolution r = min(channel_base // r, channel_max)
    channel_max: int = 512  # cap on channels per resolution
    channels: dict[int, int] = field(default_factory=dict)  # resolution -> channels (explicit)
    resample_filter: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0)  # 1-D FIR taps for 2x upsampling
    conv_clamp: float | None = None  # clamp activations and ToRGB output to +-conv_clamp (None = off)
    w_avg_beta: float = 0.995  # decay of the w_avg running mean (training only)

    def __post_init__(self):
        if self.resolution < 4 or self.resolution & (self.resolution - 1):
            raise NeuralFaceError(f"generator resolution must be a power of two >= 4, got {self.resolution}")
        if self.z_dim <= 0 or self.w_dim <= 0 or self.c_dim < 0:
            raise NeuralFaceError(f"bad latent sizes z_dim={self.z_dim} w_dim={self.w_dim} c_dim={self.c_dim}")
        if self.mapping_layers < 1:
            raise NeuralFaceError(f"mapping_layers must be >= 1, got {self.mapping_layers}")
        self.channels = {int(r): int(c) for r, c in self.channels.items()}
        for res in self.block_resolutions:
            if res not in self.channels:
                self.channels[res] = min(self.channel_base // res, self.channel_max)
        self.channels = {r: self.channels[r] for r in self.block_resolutions}
        self.resample_filter = tuple(float(t) for t in self.resample_filter)
        if self.embed_features is None:
            self.embed_features = self.w_dim
        if self.layer_features is None:
            self.layer_features = self.w_dim

    @property
    def block_resolutions(self) -> list[int]:
        """[4, 8, ..., resolution]: one synthesis block per resolution."""
        return [2**i for i in range(2, int(math.log2(self.resolution)) + 1)]

    @property
    def num_ws(self) -> int:
        """Number of per-layer W vectors (W+ rows): 2 * log2(resolution) - 2."""
        return 2 * int(math.log2(self.resolution)) - 2

    def to_dict(self) -> dict:
        data = asdict(self)
        data["channels"] = {str(r): c for r, c in self.channels.items()}
        data["resample_filter"] = list(self.resample_filter)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "GeneratorConfig":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise NeuralFaceError(f"unknown generator config fields: {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def config_f(cls, resolution: int, **overrides) -> "GeneratorConfig":
        """The paper's config F: 512 channels up to 64 px, then halving (channel_base 32768)."""
        return cls(resolution=resolution, **overrides)
