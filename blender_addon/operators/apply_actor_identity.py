"""``neural_face.apply_actor_identity``: the bundled head takes an actor's fitted identity.

The actor's identity is the ``id_00``..``id_27`` coefficients of its fit, the same in every
frame: read from the fit's shot folder (``ACTOR_DIR/fit/shot/shot.json``, the first
frame), else from ``fit.npz`` (arrays ``identity`` [28] and, optionally,
``identity_names``; read without pickle). Setting them on the bundled head's identity
shape keys gives the CG head the person's proportions, so the passes the model is driven
by match the faces it was trained on. Undoable.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..core_link import NeuralFaceError
from ..core_link import shot as shot_format

IDENTITY_KEY = re.compile(r"^id_\d+$")
SHOT_PLACES = ("fit/shot", "shot", ".")  # where a fit's shot folder may be, below the chosen folder
NPZ_PLACES = ("fit/fit.npz", "fit.npz")


@dataclass
class ApplyIdentitySettings:
    source: str  # actor folder, its fit folder, the fit's shot folder, a shot.json or a fit.npz (absolute)
    object_name: str  # the chosen object: the head mesh, its rig or one of its eyes ("" = none)


def find_fit(source):
    """The fit file of ``source``: a shot.json (preferred) or a fit.npz. NeuralFaceError
    naming the places looked at when there is none."""
    path = Path(source)
    if path.is_file():
        if path.name == "shot.json" or path.suffix == ".npz":
            return path
        raise NeuralFaceError(f"'{path}' is neither a fit's shot.json nor a fit.npz")
    if not path.is_dir():
        raise NeuralFaceError(f"actor folder '{path}' does not exist")
    places = [path / place / "shot.json" for place in SHOT_PLACES] + [path / place for place in NPZ_PLACES]
    for candidate in places:
        if candidate.is_file():
            return candidate
    raise NeuralFaceError(f"no fit in '{path}': looked for fit/shot/shot.json and fit/fit.npz (run Fit first)")


def read_identity(path):
    """{identity key: value} of the fit file ``path`` (see :func:`find_fit`); also a list
    of warnings. NeuralFaceError for a fit without identity values."""
    path = Path(path)
    warnings = []
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                values = np.asarray(data["identity"], dtype=np.float64).ravel()
                names = [str(n) for n in data["identity_names"]] if "identity_names" in data.files else \
                    [f"id_{i:02d}" for i in range(len(values))]
        except (OSError, KeyError, ValueError) as error:
            raise NeuralFaceError(f"{path}: cannot read the identity ({error})") from error
        if len(names) != len(values) or not np.isfinite(values).all():
            raise NeuralFaceError(f"{path}: 'identity' must be {len(names)} finite values")
        return dict(zip(names, values.tolist())), warnings
    shot = shot_format.read_shot(path.parent, check_passes=False)
    columns = [i for i, name in enumerate(shot.coefficient_names) if IDENTITY_KEY.match(name)]
    if not columns:
        raise NeuralFaceError(f"{path}: the fit has no identity coefficients (id_00, id_01, ...)")
    values = np.array([[record.coefficients[i] for i in columns] for record in shot.frames])
    if np.abs(values - values[0]).max() > 1e-6:
        warnings.append(f"the identity differs between the fit's frames; frame {shot.frames[0].frame}'s is used")
    return {shot.coefficient_names[i]: float(v) for i, v in zip(columns, values[0])}, warnings


def _identity_keys(obj):
    keys = obj.data.shape_keys if obj is not None and obj.type == "MESH" else None
    return [block.name for block in keys.key_blocks if IDENTITY_KEY.match(block.name)] if keys else []


def find_head(obj):
    """The bundled head mesh of ``obj`` (itself, or the head mesh of its rig or eye).
    NeuralFaceError when nothing is chosen or it is not a bundled head."""
    if obj is None:
        raise NeuralFaceError("no head selected: select the bundled Neural Face head (its mesh, rig or an eye)")
    rig = obj if obj.type == "ARMATURE" else obj.parent if obj.parent is not None and obj.parent.type == "ARMATURE" else None
    candidates = [obj] + ([child for child in rig.children if child != obj] if rig is not None else [])
    for candidate in candidates:
        if _identity_keys(candidate):
            return candidate
    raise NeuralFaceError(f"'{obj.name}' is not a bundled Neural Face head: it has no identity shape keys "
                          "(id_00, id_01, ...); add one with Add > Neural Face Head")


def _animated_paths(id_data):
    """Data paths of ``id_data`` that its action (its slot's channels) or its drivers set."""
    animation = id_data.animation_data
    if animation is None:
        return set()
    paths = {driver.data_path for driver in animation.drivers}
    action = animation.action
    if action is not None:
        try:  # Blender 4.4+: layered actions, one channel bag per slot (5.0 has no Action.fcurves)
            from bpy_extras.anim_utils import action_get_channelbag_for_slot

            bag = action_get_channelbag_for_slot(action, animation.action_slot)
            fcurves = bag.fcurves if bag is not None else ()
        except ImportError:
            fcurves = action.fcurves
        paths |= {fcurve.data_path for fcurve in fcurves}
    return paths


def apply_identity(head, identity):
    """Set ``head``'s identity keys to ``identity`` ({key: value}; keys it lacks go to 0).
    Returns warnings: fitted keys the head lacks, keys whose animation overrides the value."""
    blocks = head.data.shape_keys.key_blocks
    names = _identity_keys(head)
    for name in names:
        blocks[name].value = float(identity.get(name, 0.0))
    warnings = []
    missing = sorted(set(identity) - set(names))
    if missing:
        warnings.append(f"the head has no shape key for {len(missing)} fitted identity value(s): {', '.join(missing[:6])}")
    animated = _animated_paths(head.data.shape_keys)
    held = [n for n in names if f'key_blocks["{n}"].value' in animated]
    if held:
        warnings.append(f"keyframes or drivers hold {len(held)} identity key(s) of '{head.name}' "
                        f"({', '.join(held[:6])}): they override the applied values on the next frame change")
    return warnings


class NEURALFACE_OT_apply_actor_identity(bpy.types.Operator):
    """Give the selected bundled head the fitted identity of an actor (its identity shape keys id_00..)"""

    bl_idname = "neural_face.apply_actor_identity"
    bl_label = "Apply Actor Identity"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(
        name="Actor",
        description="The actor folder (or its fit's shot.json or fit.npz); empty: the Actor panel's folder",
        subtype="FILE_PATH",
        options={"SKIP_SAVE"},
        default="",
    )

    @classmethod
    def poll(cls, context):
        return context.scene is not None

    def settings(self, context):
        """Snapshot: the source path (absolute) and the chosen object's name."""
        source = self.filepath
        actor = getattr(getattr(context.scene, "neural_face", None), "actor", None)
        if not source and actor is not None:
            source = actor.folder
        if not source:
            raise NeuralFaceError("no actor chosen: set the Actor Folder in the Actor panel or pick a folder")
        obj = context.active_object
        return ApplyIdentitySettings(source=bpy.path.abspath(source), object_name=obj.name if obj else "")

    def execute(self, context):
        try:
            settings = self.settings(context)
            head = find_head(context.scene.objects.get(settings.object_name) if settings.object_name else None)
            fit = find_fit(settings.source)
            identity, warnings = read_identity(fit)
            warnings += apply_identity(head, identity)
        except NeuralFaceError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        for warning in warnings:
            self.report({"WARNING"}, warning)
        self.report({"INFO"}, f"Neural Face: '{head.name}' has the fitted identity from {fit} "
                              f"({len(_identity_keys(head))} keys)")
        return {"FINISHED"}

    def invoke(self, context, event):
        actor = getattr(getattr(context.scene, "neural_face", None), "actor", None)
        if self.filepath or (actor is not None and actor.folder):
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}


CLASSES = (NEURALFACE_OT_apply_actor_identity,)
