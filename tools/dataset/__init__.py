"""Helpers of ``tools/make_dataset.py``: random frame parameters (``sampling``, pure numpy)
and the Blender side (``appearance``: procedural materials and lights; ``scene``: a chunk's
keyed scene and its renders)."""
