"""Actor models: fitting the bundled parametric head to a real person (issue 14).

Nothing is imported here: import the module you use.

- ``footage``: photos and videos as upright RGB frames; ``landmarks``: MediaPipe's 478
  face-mesh points in pixels.
- ``head_model``: the head's 478 MediaPipe landmarks as a function of its identity and
  ARKit keys and its pose (pure numpy, data in ``data/head_model.npz``); ``rotations``:
  the rotation conventions it uses; ``calibration``: where MediaPipe sees those landmarks.
- ``problems``, ``solver``, ``fit``: the fit (one identity, per-frame expression, pose,
  gaze and focal length); ``fit_shot``: a fit as a shot folder v1 plus aligned crops.
- ``project``: an actor folder (``actor.json``, each step's results and state);
  ``input_frames``: its input frames; ``steps``: the workflow's steps (detect, fit,
  build, train, report), run by ``python -m neural_core actor STEP ACTOR_DIR``.
"""
