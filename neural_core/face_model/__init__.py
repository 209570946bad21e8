"""The conditional face model: canonical passes + rig coefficients + appearance -> RGBA.

Importing this package imports torch (``neural_core`` itself loads it lazily). Parts:

- ``config.py``: :class:`ConditionalConfig` (generator config + pass-encoder config);
- ``inputs.py``: canonical passes -> the encoder's input planes (numpy only);
- ``encoder.py``: :class:`PassEncoder`, input planes -> features per generator resolution;
- ``model.py``: :class:`ConditionalModel`, encoder + StyleGAN2 generator;
- ``checkpoint.py``: safetensors save/load (config JSON in the metadata, nothing pickled).
- ``held_inputs.py``: the identity inputs an actor model holds at the identity it was trained on.
"""

from .checkpoint import load_conditional, read_conditional, save_conditional
from .config import ConditionalConfig, EncoderConfig
from .model import ConditionalModel

__all__ = ["ConditionalConfig", "EncoderConfig", "ConditionalModel", "load_conditional", "read_conditional", "save_conditional"]
