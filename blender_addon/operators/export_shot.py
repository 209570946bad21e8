"""Operator: export the scene's animated head, camera and passes as a shot folder."""

import bpy

from ..properties import ENGINE_ITEMS, PROFILE_ITEMS
SCENE_PROFILE = "scene"  # take the rig profile and map from the scene's Neural Face settings
RIG_ITEMS = ((SCENE_PROFILE, "Scene Settings", "The Rig Profile and Rig Map of the Neural Face panel"),
             *PROFILE_ITEMS)


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
    rig_profile: bpy.props.EnumProperty(name="Rig Profile", items=RIG_ITEMS, default=SCENE_PROFILE)
    custom_map: bpy.props.StringProperty(
        name="Custom Map", description="JSON map for the custom rig profile (docs/rigs.md)", subtype="FILE_PATH")
    use_passes: bpy.props.BoolProperty(
        name="Render Passes", description="Render passes (off: coefficients, pose and camera only)",
        default=True)
    engine: bpy.props.EnumProperty(name="Engine", items=ENGINE_ITEMS, default="CYCLES")
    samples: bpy.props.IntProperty(name="Samples", default=1, min=1, max=64)

    def settings(self, scene=None):
        """Snapshot of the properties as plain ExportSettings (the rig profile and map from
        ``scene``'s Neural Face settings when the profile is 'Scene Settings')."""
        from ..export.exporter import ExportSettings
        from ..jobs.render_job import rig_from_scene

        scene = scene if scene is not None else bpy.context.scene
        if self.rig_profile == SCENE_PROFILE and getattr(scene, "neural_face", None) is None:
            profile, custom_map = "auto", ""  # the operator registered without the scene settings
        elif self.rig_profile == SCENE_PROFILE:
            profile, custom_map = rig_from_scene(scene)
        else:
            profile = self.rig_profile
            custom_map = bpy.path.abspath(self.custom_map) if self.custom_map else ""
        return ExportSettings(
            output=bpy.path.abspath(self.directory),
            frame_start=None if self.use_scene_range else self.frame_start,
            frame_end=None if self.use_scene_range else self.frame_end,
            frame_step=self.frame_step,
            head_object=self.head_object,
            rig_profile=profile,
            custom_map=custom_map,
            passes=self.use_passes,
            engine=self.engine,
            samples=self.samples,
        )

    def execute(self, context):
        from ..core_link import NeuralFaceError
        from ..export.exporter import export_shot

        try:
            settings = self.settings(context.scene)
        except NeuralFaceError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
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
