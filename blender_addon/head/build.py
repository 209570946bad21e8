"""Builds the bundled Neural Face head into a scene: the function tools and tests call.

``build_head()`` makes three kinds of objects, all from data in this repository
(``data/canonical_face_model.obj``) and code in this package:

- the head mesh (``<name>``): closed skin with eye sockets and a mouth bag, material
  slots ``mesh.REGIONS``, vertex groups ``neck``/``head``/``jaw`` with an Armature
  modifier, shape keys ``Basis``, ``id_00``..``id_27`` and the 52 ARKit names;
- the armature (``<name>_rig``) with bones ``neck``, ``head``, ``jaw``, ``eye.L``,
  ``eye.R``; its origin (= the head's origin) is the base of the neck;
- two eyeballs (``<name>_eye.L`` / ``_eye.R``) parented to the eye bones, whose
  location and scale follow the identity keys through drivers.

Contract with the exporter: the head mesh has ``obj["neural_face_head"] = 1``,
``obj["neural_face_landmarks"]`` = 468 vertex indices (MediaPipe landmark i -> vertex),
and ``obj.pass_index = 1``. Units are metres, +Z up, the face looks down -Y; the face
is about 0.18 m tall and the nose tip sits at ``NOSE_TIP`` relative to the origin.
"""

from dataclasses import dataclass

import bpy
import numpy as np

from ..core_link import arkit
from . import canonical, expressions, eyes, identity, materials, mesh, rig

ARKIT_52 = arkit.ARKIT_52

NOSE_TIP = tuple(np.round(canonical.load_canonical_face().vertices[canonical.NOSE_TIP], 4))


@dataclass
class HeadObjects:
    """What ``build_head`` made. eyes: (left eyeball, right eyeball) objects."""

    mesh: bpy.types.Object
    armature: bpy.types.Object
    eyes: tuple


def shape_key_names():
    """All shape-key names of the head in order: Basis, identity keys, ARKit 52."""
    return ("Basis",) + identity.identity_names() + tuple(ARKIT_52)


def _mesh_data(name, vertices, faces, regions, face_uvs):
    data = bpy.data.meshes.new(name)
    data.from_pydata([tuple(v) for v in vertices], [], faces)
    materials.assign_region_slots(data)  # before validate(), which clamps material indices
    layer = data.uv_layers.new(name="UVMap")
    layer.data.foreach_set("uv", np.concatenate(face_uvs).astype(np.float32).ravel())
    data.polygons.foreach_set("material_index", np.asarray(regions, dtype=np.int32))
    data.polygons.foreach_set("use_smooth", np.ones(len(faces), dtype=bool))
    data.validate()
    data.update()
    return data


def _parent_to_bone(child, armature, bone_name):
    """Parent ``child`` to a bone while keeping its current world transform."""
    bone = armature.data.bones[bone_name]
    child.parent = armature
    child.parent_type = "BONE"
    child.parent_bone = bone_name
    tail = bone.matrix_local.copy()
    tail.translation = bone.tail_local
    child.matrix_parent_inverse = (armature.matrix_world @ tail).inverted()


def _add_shape_keys(obj, vertices, deltas):
    obj.shape_key_add(name="Basis", from_mix=False)
    for name, delta in deltas.items():
        block = obj.shape_key_add(name=name, from_mix=False)
        block.data.foreach_set("co", (vertices + delta).astype(np.float32).ravel())
        block.value = 0.0  # new keys start at 1.0 on Blender 5.0
        if name.startswith("id_"):
            block.slider_min = -1.0  # identities go both ways
    obj.data.shape_keys.use_relative = True


def _add_eye_drivers(armature, key, side, centre):
    """Eye bone location (and scale) follow the identity keys that move the socket."""
    pose_bone = armature.pose.bones[f"eye.{side}"]
    to_local = np.array(armature.data.bones[f"eye.{side}"].matrix_local.to_3x3()).T
    moves = {name: to_local @ field(centre[None])[0]
             for name, (_, field) in zip(identity.identity_names(), identity.IDENTITY)}
    for axis in range(3):
        terms = [(name, float(d[axis])) for name, d in moves.items() if abs(d[axis]) > 1e-6]
        if terms:
            _driver(pose_bone, "location", axis, key, terms, 0.0)
    for axis in range(3):
        _driver(pose_bone, "scale", axis, key, [(identity.EYE_SIZE_KEY, identity.EYE_SIZE_SCALE)], 1.0)


def _driver(target, path, index, key, terms, constant):
    fcurve = target.driver_add(path, index)
    # Blender 5.0 gives a new driver F-curve keyframes at (0, 0) and (1, 1), through which a
    # result in [0, 1e-4) comes out as exactly 0 (and within 1e-4 below 1 as 1): without
    # keyframes (4.x's way) the F-curve passes the driver's value through unchanged
    fcurve.keyframe_points.clear()
    driver = fcurve.driver
    driver.type = "SCRIPTED"
    parts = [repr(constant)]
    for i, (name, coefficient) in enumerate(terms):
        var = driver.variables.new()
        var.name = f"k{i}"
        var.type = "SINGLE_PROP"
        var.targets[0].id_type = "KEY"
        var.targets[0].id = key
        var.targets[0].data_path = f'key_blocks["{name}"].value'
        parts.append(f"{coefficient:.7g}*k{i}")
    driver.expression = " + ".join(parts)


def build_head(scene=None, name="NeuralFaceHead", location=(0.0, 0.0, 0.0)):
    """Build the bundled head into ``scene`` (default: the context scene).

    location: world position of the head origin (the base of the neck), metres.
    Returns ``HeadObjects``. Takes about a second.
    """
    scene = scene or bpy.context.scene
    collection = scene.collection
    head = mesh.build_head_mesh()
    points = head.vertices

    # the armature (its origin is the head origin)
    with bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0]):
        armature = rig.create_armature(f"{name}_rig", collection, head.eye_centres)
    armature.location = location

    # the head mesh, skinned to the armature
    data = _mesh_data(name, points, head.faces, head.face_regions, head.face_uvs)
    obj = bpy.data.objects.new(name, data)
    collection.objects.link(obj)
    obj.parent = armature
    for group_name, weights in rig.skin_weights(points).items():
        group = obj.vertex_groups.new(name=group_name)
        for value in np.unique(np.round(weights, 4)):
            if value > 0:
                group.add(np.flatnonzero(np.round(weights, 4) == value).tolist(), float(value), "REPLACE")
    modifier = obj.modifiers.new("Armature", "ARMATURE")
    modifier.object = armature

    mouth_part = np.zeros(len(points))
    mouth_part[head.parts["mouth"]] = 1.0
    deltas = identity.identity_deltas(points)
    deltas.update(expressions.expression_deltas(points, ARKIT_52, mouth_part))
    _add_shape_keys(obj, points, deltas)
    obj["neural_face_head"] = 1
    obj["neural_face_landmarks"] = [int(i) for i in head.landmarks]
    obj.pass_index = 1

    # the eyeballs, each parented to its eye bone
    bpy.context.view_layer.update()
    eye_vertices, eye_faces, eye_regions, eye_uvs = eyes.eyeball()
    eye_objects = []
    for side in ("L", "R"):
        eye_data = _mesh_data(f"{name}_eye.{side}", eye_vertices, eye_faces, eye_regions, eye_uvs)
        eye = bpy.data.objects.new(f"{name}_eye.{side}", eye_data)
        collection.objects.link(eye)
        _parent_to_bone(eye, armature, f"eye.{side}")
        eye.matrix_basis = armature.matrix_world @ _translation(head.eye_centres[side])
        eye.pass_index = 1
        _add_eye_drivers(armature, obj.data.shape_keys, side, head.eye_centres[side])
        eye_objects.append(eye)
    return HeadObjects(mesh=obj, armature=armature, eyes=tuple(eye_objects))


def _translation(vector):
    from mathutils import Matrix

    return Matrix.Translation(tuple(float(v) for v in vector))
