"""ConditionalConfig: the generator's config plus everything that shapes the pass encoder.

Plain dataclasses that travel as JSON inside the safetensors metadata (never pickled).
"""

import json
from dataclasses import asdict, dataclass, field

from ..contract.errors import NeuralFaceError
from ..generator.config import GeneratorConfig

# Canonical passes the encoder can read, with the number of input planes each gives.
# regions are one-hot over ``EncoderConfig.num_regions`` planes.
PASS_PLANES = {"normal": 3, "depth": 1, "mask": 1, "albedo": 3}


@dataclass
class EncoderConfig:
    """Pass encoder: input planes at the output resolution -> features at every block resolution."""

    passes: tuple[str, ...] = ("normal", "depth", "mask", "regions")  # canonical passes read, in this order
    num_regions: int = 7  # region ids 0..num_regions-1 (one-hot planes); the head's REGIONS
    depth_scale: float = 0.1  # metres: depth relative to the head's median depth is divided by this
    channels: dict[int, int] = field(default_factory=dict)  # resolution -> encoder width (empty = default rule)
    channel_base: int = 4096  # default width at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 128  # cap on encoder widths
    min_resolution: int = 4  # lowest resolution that receives features

    def __post_init__(self):
        self.passes = tuple(self.passes)
        unknown = [p for p in self.passes if p not in PASS_PLANES and p != "regions"]
        if unknown:
            raise NeuralFaceError(f"the pass encoder cannot read passes {unknown} (known: {sorted(PASS_PLANES) + ['regions']})")
        if self.num_regions < 1 or self.depth_scale <= 0:
            raise NeuralFaceError(f"bad encoder config: num_regions={self.num_regions}, depth_scale={self.depth_scale}")
        self.channels = {int(r): int(c) for r, c in self.channels.items()}

    def read_passes(self):
        """Canonical passes a frame must have: the encoder's planes plus the mask (the
        output's alpha and the loss's support), sorted."""
        return sorted(set(self.passes) | {"mask"})

    @property
    def in_planes(self) -> int:
        """Number of input planes: sum over ``passes`` (regions count ``num_regions``)."""
        return sum(self.num_regions if p == "regions" else PASS_PLANES[p] for p in self.passes)

    def width(self, resolution: int) -> int:
        return self.channels.get(resolution, max(8, min(self.channel_base // resolution, self.channel_max)))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["passes"] = list(self.passes)
        data["channels"] = {str(r): c for r, c in self.channels.items()}
        return data


@dataclass
class ConditionalConfig:
    """Everything needed to rebuild a :class:`ConditionalModel`.

    ``generator.c_dim`` must equal ``len(coefficient_names)``; ``generator.z_dim`` is the
    appearance latent size (``appearance_names`` label its entries when they are known
    procedural parameters, see ``tools/make_dataset.py``). A model trained with per-frame
    appearance codes (``appearance.py``) has ``appearance_code_dim`` > 0 and one code per
    entry of ``appearance_frames``; its z is always 0.
    """

    generator: GeneratorConfig
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    coefficient_names: tuple[str, ...] = ()  # the order of c (e.g. id_00.. then ARKit-52)
    appearance_names: tuple[str, ...] = ()  # optional labels of the z entries
    noise_mode: str = "none"  # noise used at inference ("none": output fixed to the surface, no flicker)
    appearance_code_dim: int = 0  # size of the learnt per-frame appearance code (0 = the model has none)
    appearance_frames: tuple[str, ...] = ()  # label of each code's training frame ("chunk_00000/0012"), code order

    def __post_init__(self):
        self.coefficient_names = tuple(self.coefficient_names)
        self.appearance_names = tuple(self.appearance_names)
        self.appearance_frames = tuple(self.appearance_frames)
        if self.appearance_code_dim < 0 or bool(self.appearance_code_dim) != bool(self.appearance_frames):
            raise NeuralFaceError(f"appearance codes need both a size and frames: appearance_code_dim={self.appearance_code_dim}, "
                                  f"{len(self.appearance_frames)} appearance frames")
        if self.generator.c_dim != len(self.coefficient_names):
            raise NeuralFaceError(f"generator c_dim {self.generator.c_dim} != {len(self.coefficient_names)} coefficient names")
        if self.appearance_names and len(self.appearance_names) != self.generator.z_dim:
            raise NeuralFaceError(f"generator z_dim {self.generator.z_dim} != {len(self.appearance_names)} appearance names")
        if self.generator.img_channels != 3:
            raise NeuralFaceError("the conditional model needs an RGB generator (img_channels=3)")

    def to_dict(self) -> dict:
        return {
            "generator": self.generator.to_dict(),
            "encoder": self.encoder.to_dict(),
            "coefficient_names": list(self.coefficient_names),
            "appearance_names": list(self.appearance_names),
            "noise_mode": self.noise_mode,
            # written only when used, so a model without codes keeps the config JSON it always had
            **({"appearance_code_dim": self.appearance_code_dim, "appearance_frames": list(self.appearance_frames)}
               if self.appearance_code_dim else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "ConditionalConfig":
        data = dict(data)
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise NeuralFaceError(f"unknown conditional config fields: {', '.join(unknown)}")
        encoder = dict(data.pop("encoder", {}))
        unknown = sorted(set(encoder) - set(EncoderConfig.__dataclass_fields__))
        if unknown:
            raise NeuralFaceError(f"unknown encoder config fields: {', '.join(unknown)}")
        return cls(generator=GeneratorConfig.from_dict(data.pop("generator")), encoder=EncoderConfig(**encoder), **data)


def default_config(coefficient_names, appearance_dim: int = 16, resolution: int = 256, **generator_overrides) -> ConditionalConfig:
    """The bundled model's shape: narrow widths so a 256 px frame renders well under 1 s on 2 CPU cores."""
    generator = dict(
        resolution=resolution,
        z_dim=appearance_dim,
        w_dim=256,
        c_dim=len(coefficient_names),
        mapping_layers=4,
        mapping_lr_multiplier=0.1,  # 10x StyleGAN's 0.01: the appearance latent must steer colour within a short CPU run
        channel_base=4096,
        channel_max=256,
    )
    generator.update(generator_overrides)
    return ConditionalConfig(generator=GeneratorConfig(**generator), coefficient_names=tuple(coefficient_names))


def wide_config(coefficient_names, appearance_dim: int = 16, resolution: int = 512) -> ConditionalConfig:
    """A wider model for GPU training (the ``cuda-512`` preset): ``channel_base`` 16384 (at most 512
    channels, 32 at 512 px), w 512, a wider pass encoder; 29 M parameters and 48.7 GFLOP per
    512 px forward pass, against the default shape's 5.9 M and 5.7 GFLOP (torch's flop counter)."""
    config = default_config(coefficient_names, appearance_dim, resolution, w_dim=512, channel_base=16384, channel_max=512)
    config.encoder = EncoderConfig(channel_base=8192, channel_max=256)
    return config


def tiny_config(coefficient_names=("jawOpen", "eyeBlinkLeft"), appearance_dim: int = 4, resolution: int = 32) -> ConditionalConfig:
    """A few-thousand-parameter model for tests."""
    generator = GeneratorConfig(resolution=resolution, z_dim=appearance_dim, w_dim=16, c_dim=len(coefficient_names),
                                mapping_layers=2, channel_base=256, channel_max=16)
    encoder = EncoderConfig(channel_base=128, channel_max=8)
    return ConditionalConfig(generator=generator, encoder=encoder, coefficient_names=tuple(coefficient_names))
