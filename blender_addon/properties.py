"""Scene settings of Neural Face (``scene.neural_face``) and the state of a running job.

Settings are saved with the .blend file. The job state (progress, frames, time left,
last status, the worker's warnings) is written by the render operators while a worker runs and shown by the
panel; ``is_running`` is computed from the live jobs in this Blender session, so a file
saved mid-job never reopens claiming to be busy.
"""

import bpy

DEFAULT_OUTPUT = "//neural_face/"

RUNNING_SCENES = set()  # names of scenes with a render job in progress (set by render_job)


ENGINE_ITEMS = (  # user-facing engine names of export/passes.py ENGINES and what each gives
    ("CYCLES", "Cycles", "All passes: depth, normal, albedo, mask, regions (CPU)"),
    ("EEVEE", "EEVEE", "Depth, normal, albedo only (no index passes, so no mask/regions)"),
    ("WORKBENCH", "Workbench", "Depth only"),
)
PROFILE_ITEMS = (  # identifiers are the contract's profile names (profiles.PROFILE_NAMES + "auto")
    ("auto", "Auto", "Pick the profile that maps the most shape keys (ARKit 52 or FLAME)"),
    ("arkit52", "ARKit 52", "ARKit blendshape names and their common variants (eyeBlink_L, Face.jawOpen, ...)"),
    ("flame", "FLAME", "Shape000.../Exp000... keys; neck, jaw and eye bones"),
    ("custom", "Custom", "The Rig Map: your shape keys -> the model's coefficients, with a scale each"),
)


def _is_mesh(self, obj):
    return obj.type == "MESH"


def _is_running(self):
    return self.id_data is not None and self.id_data.name in RUNNING_SCENES


# -- Actor settings (issue 14: the Actor panel, ui/actor_panel.py; operators/actor_step.py) ----------
ACTOR_RUNNING = set()  # names of scenes with an actor step running in the worker (set by actor_step)


def _actor_is_running(self):
    return self.id_data is not None and self.id_data.name in ACTOR_RUNNING


class NEURALFACE_PG_footage(bpy.types.PropertyGroup):
    path: bpy.props.StringProperty(
        name="Footage",
        description="A folder of photos (JPEG/PNG) or a video file of the actor",
        subtype="FILE_PATH",
        options={"PATH_SUPPORTS_BLEND_RELATIVE"},
        default="",
    )


class NEURALFACE_PG_actor(bpy.types.PropertyGroup):
    folder: bpy.props.StringProperty(
        name="Actor Folder",
        description="The actor's folder: its footage list, fit, training set, model and report "
                    "(python -m neural_core actor ... ACTOR_DIR; docs/actor.md)",
        subtype="DIR_PATH",
        options={"PATH_SUPPORTS_BLEND_RELATIVE"},
        default="",
    )
    footage: bpy.props.CollectionProperty(type=NEURALFACE_PG_footage, name="Footage")
    train_minutes: bpy.props.FloatProperty(
        name="Training Minutes",
        description="Time budget of Train in minutes (0 = the command's default); a later Train goes on",
        min=0.0,
        soft_max=600.0,
        default=0.0,
    )
    # -- state of the running step (written by neural_face.actor_step, read by the panel) --
    is_running: bpy.props.BoolProperty(name="Running", get=_actor_is_running)
    step: bpy.props.StringProperty(name="Step", default="")  # the running (or last) step, e.g. "fit"
    progress: bpy.props.FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")
    done: bpy.props.IntProperty(name="Done", min=0)
    total: bpy.props.IntProperty(name="Total", min=0)
    eta_text: bpy.props.StringProperty(name="Time Left", default="")
    status_text: bpy.props.StringProperty(name="Status", default="")
    warning_text: bpy.props.StringProperty(name="Warnings", default="")  # the last step's warnings, one per line
# -- end of the Actor settings ----------------------------------------------------------------------


class NEURALFACE_PG_settings(bpy.types.PropertyGroup):
    head_object: bpy.props.PointerProperty(
        name="Head",
        description="Mesh object with the face rig (shape keys) to render; the bundled head by default",
        type=bpy.types.Object,
        poll=_is_mesh,
    )
    rig_profile: bpy.props.EnumProperty(
        name="Rig Profile",
        description="How the head's shape keys become the model's coefficients (docs/rigs.md)",
        items=PROFILE_ITEMS,
        default="auto",
    )
    rig_map_file: bpy.props.StringProperty(
        name="Rig Map",
        description=(
            'Custom profile: a JSON file {"shape key": "coefficient" or {"name": ..., "scale": ...}} '
            "(docs/rigs.md). Leave empty to use the text block below"
        ),
        subtype="FILE_PATH",
        options={"PATH_SUPPORTS_BLEND_RELATIVE"},
        default="",
    )
    rig_map_text: bpy.props.PointerProperty(
        name="Rig Map Text",
        description="Custom profile: a text block of this .blend holding the same JSON as a map file (saved with the file)",
        type=bpy.types.Text,
    )
    model_path: bpy.props.StringProperty(
        name="Model",
        description="Generator checkpoint (.safetensors, .pt or .pkl). Empty: the bundled default model",
        subtype="FILE_PATH",
        options={"PATH_SUPPORTS_BLEND_RELATIVE"},
        default="",
    )
    device: bpy.props.EnumProperty(
        name="Device",
        description="Where the worker runs the generator",
        items=(
            ("AUTO", "Auto", "CUDA when the worker's torch sees a GPU, else the CPU"),
            ("CPU", "CPU", "Always the CPU"),
            ("CUDA", "CUDA", "An NVIDIA GPU (fails if the worker's torch has none)"),
        ),
        default="AUTO",
    )
    output_folder: bpy.props.StringProperty(
        name="Output",
        description=(
            "Folder for the job: shot/ (exported passes), frames/ (neural_####.png or .exr) and "
            "composite/. '//' paths are relative to the .blend file"
        ),
        subtype="DIR_PATH",
        options={"PATH_SUPPORTS_BLEND_RELATIVE"},
        default=DEFAULT_OUTPUT,
    )
    file_format: bpy.props.EnumProperty(
        name="Format",
        description="File format of the synthesised frames",
        items=(
            ("PNG", "PNG", "sRGB with straight alpha, 8 or 16 bits per channel"),
            ("EXR", "OpenEXR", "Linear half float RGBA"),
        ),
        default="PNG",
    )
    png_depth: bpy.props.EnumProperty(
        name="Color Depth",
        description="Bits per channel of PNG output",
        items=(("8", "8", "8 bits per channel"), ("16", "16", "16 bits per channel")),
        default="8",
    )
    appearance_look: bpy.props.EnumProperty(
        name="Look",
        description="The appearance (skin, lighting) the face has for the whole shot",
        items=(
            ("SEED", "Seed", "Drawn by Appearance Seed; 0 is the model's median look (an actor model's mean look)"),
            ("TYPICAL", "Typical Photo", "Actor models: the look of the training photo nearest the mean look"),
            ("FRAME", "Training Frame", "Actor models: the look learnt for one training frame"),
        ),
        default="SEED",
    )
    appearance_seed: bpy.props.IntProperty(
        name="Appearance Seed",
        description="Seed of the synthesised appearance (skin, lighting), fixed for the whole shot; 0 is the model's median look",
        min=0,
        default=0,
    )
    appearance_frame: bpy.props.IntProperty(
        name="Training Frame",
        description="Actor models: the training frame whose learnt look the face takes (0-based, in the model's frame order)",
        min=0,
        default=0,
    )
    smoothing: bpy.props.FloatProperty(
        name="Temporal Smoothing",
        description=(
            "Temporal filter on the conditioning coefficients: Gaussian sigma in frames (0 = off). "
            "Passed to the worker as --smoothing"
        ),
        min=0.0,
        soft_max=5.0,
        default=0.0,
        unit="NONE",
    )
    stabilise_colour: bpy.props.BoolProperty(
        name="Stabilise Colour",
        description=(
            "Hold the skin's colour steady across the shot (the model renders five frames of the shot as the "
            "reference; needs the regions pass). Passed to the worker as --stabilise-colour"
        ),
        default=False,
    )
    stabilise_brightness: bpy.props.BoolProperty(
        name="Stabilise Brightness",
        description=(
            "Also hold the skin's mean brightness to the reference: removes the model's flicker, and any real "
            "change of light, so for shots lit the same throughout (implies Stabilise Colour). "
            "Passed to the worker as --stabilise-brightness"
        ),
        default=False,
    )
    passes_engine: bpy.props.EnumProperty(
        name="Passes Engine",
        description="Render engine for the input passes of the shot",
        items=ENGINE_ITEMS,
        default="CYCLES",
    )
    passes_samples: bpy.props.IntProperty(
        name="Samples",
        description="Render samples for the input passes (low is enough: 1-4)",
        min=1,
        max=4096,
        soft_max=64,
        default=2,
    )

    # -- state of the running job (written by the operators, read by the panel) -----
    is_running: bpy.props.BoolProperty(name="Running", get=_is_running)
    progress: bpy.props.FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")
    frames_done: bpy.props.IntProperty(name="Frames Done", min=0)
    frames_total: bpy.props.IntProperty(name="Frames Total", min=0)
    eta_text: bpy.props.StringProperty(name="Time Left", default="")
    status_text: bpy.props.StringProperty(name="Status", default="")
    warning_text: bpy.props.StringProperty(name="Warnings", default="")  # the last job's worker warnings, one per line
    actor: bpy.props.PointerProperty(type=NEURALFACE_PG_actor)  # the Actor panel's settings and step state


CLASSES = (NEURALFACE_PG_footage, NEURALFACE_PG_actor, NEURALFACE_PG_settings)


def post_register():
    bpy.types.Scene.neural_face = bpy.props.PointerProperty(type=NEURALFACE_PG_settings)


def pre_unregister():
    RUNNING_SCENES.clear()
    ACTOR_RUNNING.clear()
    del bpy.types.Scene.neural_face
