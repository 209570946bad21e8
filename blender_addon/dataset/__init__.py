"""Synthetic face data rendered from the bundled head (repository only: not in the extension).

- ``sampling``: random frame parameters of the training data (pure numpy);
- ``appearance``: procedural skin, lips, eyes, brows, hair, lights and world (Blender);
- ``chunk``: one sample folder: a keyed scene, its shot folder (the exporter's own
  ``export_shot``) and its Cycles renders;
- ``generate``: a whole dataset of chunks, reproducible from a seed and resumable
  (``tools/make_dataset.py``);
- ``eval_shot``: the 48-frame evaluation shot of ``tools/evaluate.py``;
- ``synthetic_actor``: photo-like footage of one hidden actor with its ground truth kept
  aside (``tools/make_synthetic_actor.py``): ``performance`` (what the actor is and does,
  pure numpy), ``plates`` (background images), ``ground_truth`` (landmarks, pose, camera).
- ``actor_build``: a real actor's sample folder from its fit shot and photo crops
  (``python -m blender_addon.dataset.actor_build``, docs/actor.md): ``actor_stage`` poses the
  head and camera as the fit says, ``actor_samples`` keeps the folder resumable.

It reaches the neural core only through ``blender_addon.core_link``; the core reads what
it writes (sample folders, ``neural_core/train/dataset.py``), never this package.
"""
