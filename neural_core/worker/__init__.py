"""Rendering a shot folder into an RGBA image sequence (``python -m neural_core render``).

- :mod:`.frames`: frame-range strings (``1-48``, ``1,5,10-12``);
- :mod:`.images`: PNG (8/16-bit sRGB, straight alpha) and EXR (half, linear) writers,
  Blender-style ``#`` padding, atomic writes;
- :mod:`.manifest`: per-frame input hashes for resume, one manifest per chunk;
- :mod:`.chunks`: a run's share of a shared output folder (frame locks, manifest, log; docs/farm.md);
- :mod:`.model`: the bundled conditional model or a user's StyleGAN2 checkpoint behind one
  interface;
- :mod:`.pipeline`: the streaming frame loop under the worker protocol.

torch is imported only by :mod:`.model` and :mod:`.pipeline`.
"""
