"""The bundled parametric head, built by code from MediaPipe's canonical face mesh.

Pure-numpy geometry: ``canonical``, ``shape``, ``mesh``, ``fields``, ``identity``,
``expressions``, ``eyes``. Blender side: ``materials``, ``rig``, ``build``
(``build_head()``).
"""
