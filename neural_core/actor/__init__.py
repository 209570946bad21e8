"""Actor models: fitting the bundled parametric head to a real person (issue 14).

Nothing is imported here: import the module you use.
``head_model``: the head's 478 MediaPipe landmarks as a function of its identity and
ARKit keys and its pose (pure numpy, data in ``data/head_model.npz``); ``rotations``:
the rotation conventions it uses.
"""
