"""Neural Face: GAN-synthesised faces from an animated parametric head (Blender extension)."""
from .registration import register, unregister  # noqa: F401
