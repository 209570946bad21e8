"""A shot's synthesis spread over a cluster (issue 15.2, docs/farm.md "Ray").

- :mod:`.chunk_renderer`: what one cluster worker holds: the shot and the model, loaded
  once, rendering chunk after chunk of frames into the shared output folder with the
  worker's own per-frame code (:class:`neural_core.worker.pipeline.ShotRenderer`), its
  chunk locks, manifests and logs. Plain Python: no Ray in it.
- :mod:`.ray_render`: ``python -m neural_core farm ray``: Ray actors holding a
  :class:`.chunk_renderer.ChunkRenderer` each, chunks handed out as actors come free,
  chunks of a lost node handed to another actor, progress as worker protocol events.

Importing this package imports neither Ray nor torch.
"""
