"""Synthetic face data rendered from the bundled head (repository only: not in the extension).

- ``sampling``: random frame parameters of the training data (pure numpy);
- ``appearance``: procedural skin, lips, eyes, brows, hair, lights and world (Blender);
- ``chunk``: one sample folder: a keyed scene, its shot folder (the exporter's own
  ``export_shot``) and its Cycles renders;
- ``generate``: a whole dataset of chunks, reproducible from a seed and resumable
  (``tools/make_dataset.py``);
- ``eval_shot``: the 48-frame evaluation shot of ``tools/evaluate.py``.

It reaches the neural core only through ``blender_addon.core_link``; the core reads what
it writes (sample folders, ``neural_core/train/dataset.py``), never this package.
"""
