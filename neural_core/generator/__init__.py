"""StyleGAN2-family generator (pure torch) and its checkpoint loaders.

Importing this package imports torch; ``neural_core`` itself only imports it lazily.
See ``docs/generator.md``.
"""

from .config import GeneratorConfig
from .generator import Generator

__all__ = ["GeneratorConfig", "Generator"]
