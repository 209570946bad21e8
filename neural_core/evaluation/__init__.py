"""Evaluation of a conditional face model (``tools/evaluate.py`` is its command line).

- ``metrics``: pure numpy (scipy for SSIM): PSNR/SSIM in the head mask, landmark error,
  expression response, identity distances, held frames;
- ``face_analysis``: MediaPipe face mesh + dlib identity embeddings of a folder of PNGs.
  Those libraries live in their own environment (``.venv-eval``, ``requirements/eval.txt``):
  :func:`face_analysis.run_analysis` runs ``python -m neural_core.evaluation.face_analysis``
  there in a subprocess;
- ``rendering``: a model's frames from a shot folder (torch, imported on first use);
- ``default_model``: the whole evaluation of one model and its table;
- ``contact_sheet``: the held-out contact sheet PNG.

Importing this package (or ``metrics`` / ``face_analysis``) imports neither torch nor
MediaPipe nor dlib. The evaluation data come from the Blender side
(``blender_addon/dataset``: ``tools/make_dataset.py`` and ``tools/evaluate.py --build-shot``)
as sample folders (``neural_core/train/dataset.py``); whatever the core needs to know
about how they were made (appearance uniforms, held frames) is in their ``frames.json``.
"""
