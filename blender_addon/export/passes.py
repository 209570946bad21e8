"""Rendering the canonical passes of one frame into a multilayer EXR, per engine.

Which canonical passes each engine gives (others are refused with a clear error):

- Cycles (CPU by default): depth, normal, albedo, mask, regions.
- EEVEE (``BLENDER_EEVEE_NEXT`` on 4.5, ``BLENDER_EEVEE`` on 5.0): depth, normal,
  albedo (no index passes, so no mask or regions). Needs OpenGL/EGL (Mesa works).
- Workbench: depth only.

:class:`RenderSetup` changes the scene's render settings for the export and puts back
every value it touched on exit, also after an error.
"""

import bpy

from ..core_link import NeuralFaceError, shot_passes

EEVEE_ID = "BLENDER_EEVEE" if bpy.app.version >= (5, 0, 0) else "BLENDER_EEVEE_NEXT"

ENGINES = {  # user-facing engine name -> (Blender engine id, canonical passes it gives)
    "CYCLES": ("CYCLES", ("depth", "normal", "albedo", "mask", "regions")),
    "EEVEE": (EEVEE_ID, ("depth", "normal", "albedo")),
    "WORKBENCH": ("BLENDER_WORKBENCH", ("depth",)),
}

PIXEL_FILTER_WIDTH = 0.01  # Cycles pixel filter width in pixels (its minimum)

# Canonical pass -> (view layer flag, channels, space, units)
PASS_SPECS = {
    "depth": ("use_pass_z", ["Z"], "camera", "m"),
    "normal": ("use_pass_normal", ["X", "Y", "Z"], "world", "unit-vector"),
    "albedo": ("use_pass_diffuse_color", ["R", "G", "B"], "linear-rgb", "reflectance"),
    "mask": ("use_pass_object_index", ["X"], "screen", "coverage"),
    "regions": ("use_pass_material_index", ["X"], "screen", "id"),
}


def engine_passes(engine, passes=None):
    """(Blender engine id, canonical passes to render) for a user-facing engine name.

    ``passes``: the canonical passes asked for, or None for all the engine gives.
    Raises NeuralFaceError for an unknown engine or a pass the engine cannot give.
    """
    if engine not in ENGINES:
        raise NeuralFaceError(f"unknown render engine '{engine}' (choose {', '.join(ENGINES)})")
    engine_id, available = ENGINES[engine]
    if passes is None:
        return engine_id, tuple(available)
    unknown = [p for p in passes if p not in PASS_SPECS]
    if unknown:
        raise NeuralFaceError(f"unknown pass(es) {unknown} (canonical passes: {', '.join(PASS_SPECS)})")
    refused = [p for p in passes if p not in available]
    if refused:
        raise NeuralFaceError(
            f"engine {engine} cannot give the pass(es) {', '.join(refused)}: it gives "
            f"{', '.join(available)}. Use Cycles for all passes (depth, normal, albedo, "
            "mask, regions)")
    return engine_id, tuple(p for p in PASS_SPECS if p in passes)


def pass_infos(view_layer_name, passes):
    """{canonical name: dict(channels, space, units, source)} for the shot's ``passes``."""
    layer = shot_passes.layer_name
    return {
        name: dict(channels=list(PASS_SPECS[name][1]), space=PASS_SPECS[name][2],
                   units=PASS_SPECS[name][3],
                   source=layer(view_layer_name, name, bpy.app.version))
        for name in passes
    }


def render_view_layer(scene):
    """The view layer the export renders: the first one enabled for rendering."""
    for layer in scene.view_layers:
        if layer.use:
            return layer
    raise NeuralFaceError(f"scene '{scene.name}' has no view layer enabled for rendering")


class RenderSetup:
    """Context manager: render settings for pass export, restored on exit.

    ``scene``: the scene; ``engine``: "CYCLES" | "EEVEE" | "WORKBENCH"; ``passes``:
    canonical passes (see :func:`engine_passes`); ``samples``: render samples per pixel
    (Cycles/EEVEE); ``head``: the head object (its ``pass_index`` marks the mask);
    ``device``: Cycles device, "CPU" by default; ``head_parts``: other objects that
    count as the head in the mask (eyeballs, teeth).
    """

    def __init__(self, scene, engine, passes, samples=1, head=None, device="CPU", head_parts=()):
        self.scene = scene
        self.engine_id, self.passes = engine_passes(engine, passes)
        self.engine = engine
        self.samples = int(samples)
        self.head = head
        self.device = device
        self.head_parts = tuple(head_parts)
        self.view_layer = render_view_layer(scene)
        self.mask_pass_index = None
        self._saved = []  # (owner, attribute, value) in the order they were changed

    def _set(self, owner, attribute, value):
        self._saved.append((owner, attribute, getattr(owner, attribute)))
        setattr(owner, attribute, value)

    def __enter__(self):
        try:
            self._apply()
        except BaseException:
            self.restore()
            raise
        return self

    def __exit__(self, *exc):
        self.restore()
        return False

    def _apply(self):
        scene, render = self.scene, self.scene.render
        self._set(render, "engine", self.engine_id)
        if self.engine == "CYCLES":
            self._set(scene.cycles, "device", self.device)
            self._set(scene.cycles, "samples", self.samples)
            self._set(scene.cycles, "use_adaptive_sampling", False)
            self._set(scene.cycles, "use_denoising", False)
            # Sample at pixel centres: depth/normal/index passes then describe exactly the
            # surface seen through each pixel centre (no filter jitter between frames).
            self._set(scene.cycles, "filter_width", PIXEL_FILTER_WIDTH)
        elif self.engine == "EEVEE":
            self._set(scene.eevee, "taa_render_samples", self.samples)
        self._set(render, "use_compositing", False)
        self._set(render, "use_sequencer", False)
        self._set_image_format(render.image_settings)
        self._set(render, "use_file_extension", True)
        self._set(render, "filepath", render.filepath)
        for layer in scene.view_layers:
            if layer != self.view_layer:
                self._set(layer, "use", False)
        for name, (flag, *_rest) in PASS_SPECS.items():
            self._set(self.view_layer, flag, name in self.passes)
        if "mask" in self.passes and self.head is not None:
            self.mask_pass_index = self._unique_pass_index()
        # The compositor set-up makes the head a holdout of the final render; a holdout
        # writes no depth, normal or index samples, so the passes see the head again.
        for obj in sorted(set(self.head_parts) | ({self.head} if self.head is not None else set()),
                          key=lambda o: o.name):
            if getattr(obj, "is_holdout", False):
                self._set(obj, "is_holdout", False)

    def _set_image_format(self, image):
        """32-bit multilayer EXR; restored as one step (5.0 needs media type before format)."""
        order = ("media_type", "file_format", "color_depth", "exr_codec")
        names = [n for n in order if hasattr(image, n)]  # media_type exists from 5.0 on
        self._saved.append((image, tuple(names), tuple(getattr(image, n) for n in names)))
        wanted = {"media_type": "MULTI_LAYER_IMAGE", "file_format": "OPEN_EXR_MULTILAYER",
                  "color_depth": "32", "exr_codec": "ZIP"}
        for name in names:
            setattr(image, name, wanted[name])

    def _unique_pass_index(self):
        """Give the head and its parts (eyes...) one pass index no other object has."""
        parts = set(self.head_parts) | {self.head}
        others = {o.pass_index for o in self.scene.objects if o not in parts}
        index = self.head.pass_index
        if index == 0 or index in others:
            index = max(others | {0}) + 1
        for obj in sorted(parts, key=lambda o: o.name):
            if obj.pass_index != index:
                self._set(obj, "pass_index", index)
        return index

    def restore(self):
        """Put back every value changed, newest first (image media type before format)."""
        errors = []
        for owner, attribute, value in reversed(self._saved):
            try:
                if isinstance(attribute, tuple):  # several attributes, set in this order
                    for name, old in zip(attribute, value):
                        setattr(owner, name, old)
                else:
                    setattr(owner, attribute, value)
            except (TypeError, ValueError, AttributeError) as exc:  # keep restoring the rest
                errors.append(f"{attribute}: {exc}")
        self._saved.clear()
        if errors:
            raise NeuralFaceError("could not restore render settings: " + "; ".join(errors))

    def render(self, path):
        """Render the scene's current frame into the multilayer EXR ``path``."""
        self.scene.render.filepath = str(path)
        result = bpy.ops.render.render(write_still=True, scene=self.scene.name)
        if "FINISHED" not in result:
            raise NeuralFaceError(f"Blender did not finish rendering frame {self.scene.frame_current}")
        if not path.is_file():
            raise NeuralFaceError(f"Blender rendered frame {self.scene.frame_current} but wrote no "
                                  f"file at {path}")
