"""Operator: export the scene's animated head, camera and passes as a shot folder."""

import bpy

ENGINE_ITEMS = (
    ("CYCLES", "Cycles", "All passes: depth, normal, albedo, mask, regions (CPU)"),
    ("EEVEE", "EEVEE", "Depth, normal, albedo only (no index passes, so no mask/regions)"),
    ("WORKBENCH", "Workbench", "Depth only"),
)
PROFILE_ITEMS = (
    ("auto", "Auto", "Pick the profile that maps the most shape keys"),
    ("arkit52", "ARKit 52", "ARKit blendshape names (and common variants)"),
    ("flame", "FLAME", "Shape000.../Exp000... keys, neck/jaw/eye joints"),
    ("custom", "Custom", "A JSON map from shape-key names to coefficient names"),
)


class NEURALFACE_OT_export_shot(bpy.types.Operator):
    """Export coefficients, pose, camera and render passes per frame into a shot folder"""

    bl_idname = "neural_face.export_shot"
    bl_label = "Export Shot"
    bl_options = {"REGISTER"}

    directory: bpy.props.StringProperty(
        name="Output Folder", description="Shot folder to create or replace ('//' = next to the .blend)",
        subtype="DIR_PATH", default="//shot")
    use_scene_range: bpy.props.BoolProperty(
        name="Scene Frame Range", description="Export the scene's frame range", default=True)
    frame_start: bpy.props.IntProperty(name="Start", default=1, min=0)
    frame_end: bpy.props.IntProperty(name="End", default=250, min=0)
    frame_step: bpy.props.IntProperty(name="Step", default=1, min=1)
    head_object: bpy.props.StringProperty(
        name="Head", description="Head mesh object (empty: find it)", default="")
    rig_profile: bpy.props.EnumProperty(name="Rig Profile", items=PROFILE_ITEMS, default="auto")
    custom_map: bpy.props.StringProperty(
        name="Custom Map", description="JSON map for the custom rig profile", subtype="FILE_PATH")
    use_passes: bpy.props.BoolProperty(
        name="Render Passes", description="Render passes (off: coefficients, pose and camera only)",
        default=True)
    engine: bpy.props.EnumProperty(name="Engine", items=ENGINE_ITEMS, default="CYCLES")
    samples: bpy.props.IntProperty(name="Samples", default=1, min=1, max=64)

    def settings(self):
        """Snapshot of the properties as plain ExportSettings."""
        from ..export.exporter import ExportSettings

        return ExportSettings(
            output=bpy.path.abspath(self.directory),
            frame_start=None if self.use_scene_range else self.frame_start,
            frame_end=None if self.use_scene_range else self.frame_end,
            frame_step=self.frame_step,
            head_object=self.head_object,
            rig_profile=self.rig_profile,
            custom_map=bpy.path.abspath(self.custom_map) if self.custom_map else "",
            passes=self.use_passes,
            engine=self.engine,
            samples=self.samples,
        )

    def execute(self, context):
        from ..core_link import NeuralFaceError
        from ..export.exporter import export_shot

        settings = self.settings()
        wm = context.window_manager
        progress = None
        if context.window is not None:
            def progress(done, total):
                if done == 1:
                    wm.progress_begin(0, total)
                wm.progress_update(done)
        try:
            folder = export_shot(context.scene, settings, progress=progress)
        except NeuralFaceError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        finally:
            if context.window is not None:
                wm.progress_end()
        self.report({"INFO"}, f"Exported shot to {folder}")
        return {"FINISHED"}

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}


CLASSES = (NEURALFACE_OT_export_shot,)
