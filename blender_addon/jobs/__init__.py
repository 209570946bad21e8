"""Jobs: running the neural core's worker from Blender.

- ``worker_client``: starts ``python -m neural_core render`` as a separate process, reads
  its JSON-lines events without blocking Blender, cancels it;
- ``events``: those events folded into a progress record the UI shows;
- ``modal_worker``: a worker run from an operator: blocking, or modal on a timer (Esc
  cancels); shared by the render job and the actor steps;
- ``render_job``: export + synthesis for a scene's settings (modal UI and blocking);
- ``headless``: the same job without a UI (``tools/render_shot.py``, ``blender -c``);
- ``cli_command``: ``blender -c neural_face render ...``.
"""
