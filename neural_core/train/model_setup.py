"""The model configuration a new training run starts from, chosen by its TrainConfig and its data."""

from ..contract.errors import NeuralFaceError
from ..face_model.config import default_config, tiny_config, wide_config
from .config import TrainConfig

SHAPES = {"default": default_config, "wide": wide_config, "tiny": tiny_config}


def model_config_for(train_config: TrainConfig, dataset, coefficient_names=None, appearance_names=None):
    """The ConditionalConfig of a new run: coefficient order and appearance size from the data
    (a FaceDataset, or None); with ``appearance_codes``, one code per frame of the (frozen)
    dataset, in sorted key order."""
    folder = dataset.first_folder() if dataset is not None else None
    names = tuple(coefficient_names or (folder.shot.coefficient_names if folder else ()))
    appearance = tuple(appearance_names if appearance_names is not None else (folder.appearance_names if folder else ()))
    if train_config.appearance_codes:
        appearance = ()  # z is 0 in a run with codes: the data's appearance records are not used
    z_dim = len(appearance) or train_config.appearance_dim
    config = SHAPES[train_config.model](names, z_dim, train_config.resolution)
    config.appearance_names = appearance
    if train_config.appearance_codes and dataset is not None:
        config.appearance_code_dim = train_config.appearance_codes
        config.appearance_frames = tuple(dataset.label(k) for k in sorted(dataset.keys))
        if len(set(config.appearance_frames)) < len(config.appearance_frames):
            twice = next(label for label in config.appearance_frames if config.appearance_frames.count(label) > 1)
            raise NeuralFaceError(
                f"two training frames are both named {twice!r} (sample folders of the same name under "
                "--data folders of the same name): rename one, each frame needs its own appearance code"
            )
    return config


def probe_config(train_config: TrainConfig):
    """A placeholder model config for the first scan of the data (only its passes and resolution matter)."""
    return SHAPES[train_config.model](("x",), 1, train_config.resolution)
