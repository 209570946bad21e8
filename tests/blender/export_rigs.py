"""Rigs the exporter tests build in Blender: a keyed sphere head, a FLAME-named rig, a camera.

Used only by ``tests/blender/test_*.py``; each function works on the current
(empty factory) scene.
"""

import math

import bpy

JOINT_BONES = (  # name, head, tail, parent
    ("neck", (0, 0, -1.6), (0, 0, -0.8), None),
    ("head", (0, 0, -0.8), (0, 0, 0.6), "neck"),
    ("jaw", (0, -0.1, -0.3), (0, -0.9, -0.7), "head"),
    ("eye.L", (0.35, -0.8, 0.25), (0.35, -1.1, 0.25), "head"),
    ("eye.R", (-0.35, -0.8, 0.25), (-0.35, -1.1, 0.25), "head"),
)


def add_armature(bones=JOINT_BONES, name="Rig"):
    data = bpy.data.armatures.new(name)
    arm = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    for bone_name, head, tail, parent in bones:
        eb = data.edit_bones.new(bone_name)
        eb.head, eb.tail = head, tail
        if parent:
            eb.parent = data.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    return arm


def add_sphere_head(key_names, name="Head", segments=32, rings=16, radius=1.0, armature=None,
                    jaw_bone="jaw", head_bone="head"):
    """A UV sphere with shape keys (each a smooth displacement) deformed by ``armature``.

    Lower vertices follow the jaw bone, the rest the head bone.
    """
    bpy.ops.mesh.primitive_uv_sphere_add(segments=segments, ring_count=rings, radius=radius)
    obj = bpy.context.object
    obj.name = name
    bpy.ops.object.shade_smooth()
    obj.shape_key_add(name="Basis")
    for i, key_name in enumerate(key_names):
        kb = obj.shape_key_add(name=key_name, from_mix=False)
        kb.value = 0.0  # 5.0 creates keys at 1.0
        phase = 0.7 * i
        for v, basis in zip(kb.data, obj.data.shape_keys.key_blocks[0].data):
            x, y, z = basis.co
            w = 0.15 * math.sin(3 * x + phase) * math.cos(2 * z - phase)
            v.co = (x * (1 + w), y * (1 + 0.5 * w), z + 0.1 * w)
    if armature is not None:
        head_group = obj.vertex_groups.new(name=head_bone)
        jaw_group = obj.vertex_groups.new(name=jaw_bone)
        for v in obj.data.vertices:
            (jaw_group if v.co.z < -0.3 and v.co.y < 0 else head_group).add([v.index], 1.0, "REPLACE")
        modifier = obj.modifiers.new("Armature", "ARMATURE")
        modifier.object = armature
    return obj


def add_camera(location=(0.4, -6.0, 0.5), rotation_deg=(88, 0, 4), lens=50.0):
    data = bpy.data.cameras.new("Camera")
    cam = bpy.data.objects.new("Camera", data)
    bpy.context.scene.collection.objects.link(cam)
    cam.location = location
    cam.rotation_euler = [math.radians(a) for a in rotation_deg]
    data.lens = lens
    bpy.context.scene.camera = cam
    return cam


def animate_keys(obj, frames=48):
    """Key every shape key except the first on a per-key sine, frame 1..frames."""
    blocks = obj.data.shape_keys.key_blocks
    for i, kb in enumerate(blocks[2:], start=1):
        for frame in range(1, frames + 1, 5):
            kb.value = 0.5 + 0.5 * math.sin(0.3 * frame + i)
            kb.keyframe_insert("value", frame=frame)


def drive_key_by_bone(obj, key_name, armature, bone="jaw", factor=2.0):
    """Drive ``key_name`` by the bone's local X rotation: value = factor * rot_x."""
    kb = obj.data.shape_keys.key_blocks[key_name]
    fcurve = kb.driver_add("value")
    driver = fcurve.driver
    driver.type = "SCRIPTED"
    var = driver.variables.new()
    var.name = "rot"
    var.type = "TRANSFORMS"
    target = var.targets[0]
    target.id = armature
    target.bone_target = bone
    target.transform_type = "ROT_X"
    target.transform_space = "LOCAL_SPACE"
    target.rotation_mode = "AUTO"
    driver.expression = f"{factor} * rot"
    return fcurve


def animate_bones(armature, frames=48):
    pose = armature.pose.bones
    for frame in range(1, frames + 1, 6):
        t = frame / frames
        pose["jaw"].rotation_mode = "XYZ"
        pose["jaw"].rotation_euler = (0.35 * math.sin(6 * t), 0.05 * t, 0.0)
        pose["jaw"].keyframe_insert("rotation_euler", frame=frame)
        for side, sign in (("eye.L", 1), ("eye.R", -1)):
            pose[side].rotation_mode = "XYZ"
            pose[side].rotation_euler = (0.2 * math.cos(5 * t), 0.0, sign * 0.3 * math.sin(4 * t))
            pose[side].keyframe_insert("rotation_euler", frame=frame)
        pose["head"].rotation_mode = "XYZ"
        pose["head"].rotation_euler = (0.1 * t, 0.2 * math.sin(3 * t), 0.05)
        pose["head"].keyframe_insert("rotation_euler", frame=frame)


def animate_camera(cam, frames=48, travel=0.3):
    """Focal length, lens shift, a sideways move of ``travel`` metres and a sensor-fit
    change (AUTO -> VERTICAL -> HORIZONTAL)."""
    data = cam.data
    x0 = cam.location.x
    data.sensor_height = 20.0
    for frame in range(1, frames + 1, 4):
        t = frame / frames
        data.lens = 35 + 40 * t
        data.shift_x = 0.08 * math.sin(5 * t)
        data.shift_y = -0.06 * t
        data.keyframe_insert("lens", frame=frame)
        data.keyframe_insert("shift_x", frame=frame)
        data.keyframe_insert("shift_y", frame=frame)
        cam.location.x = x0 + travel * t
        cam.keyframe_insert("location", frame=frame)
    for frame, fit in ((1, "AUTO"), (17, "VERTICAL"), (33, "HORIZONTAL")):
        data.sensor_fit = fit
        data.keyframe_insert("sensor_fit", frame=frame)


def keyed_sphere_scene(frames=48, key_names=("id_00", "jawOpen", "eyeBlink_L", "mouthSmileLeft",
                                             "EyeBlinkRight", "browInnerUp")):
    """The standard animated scene: sphere head + armature + animated camera."""
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, frames
    arm = add_armature()
    head = add_sphere_head(key_names, armature=arm)
    head.pass_index = 1
    animate_keys(head, frames)
    drive_key_by_bone(head, "jawOpen", arm)
    animate_bones(arm, frames)
    cam = add_camera()
    animate_camera(cam, frames)
    return head, arm, cam


def bundled_head_scene(frames=48):
    """The bundled head, animated: keyed shape keys, a driven key, keyed jaw/eye/head
    bones and an animated camera (focal length, lens shift, sensor-fit change).

    Returns (head mesh object, armature, camera, driven key name).
    """
    from blender_addon.head.build import build_head

    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, frames
    parts = build_head(scene)
    head, arm = parts.mesh, parts.armature
    blocks = head.data.shape_keys.key_blocks
    for i, name in enumerate(("jawOpen", "eyeBlinkLeft", "mouthSmileLeft", "id_03", "cheekPuff")):
        for frame in range(1, frames + 1, 5):
            blocks[name].value = 0.5 + 0.5 * math.sin(0.25 * frame + i)
            blocks[name].keyframe_insert("value", frame=frame)
    driven = "browInnerUp"
    driver = blocks[driven].driver_add("value").driver
    driver.type = "SCRIPTED"
    driver.expression = "0.5 + 0.4 * sin(frame / 5)"
    pose = arm.pose.bones
    for frame in range(1, frames + 1, 6):
        t = frame / frames
        for bone, rot in (("jaw", (0.3 * math.sin(5 * t), 0, 0)),
                          ("eye.L", (0.2 * math.cos(4 * t), 0, 0.25 * math.sin(3 * t))),
                          ("eye.R", (0.2 * math.cos(4 * t), 0, 0.25 * math.sin(3 * t))),
                          ("head", (0.15 * math.sin(2 * t), 0.1 * t, 0.2 * math.sin(3 * t)))):
            pose[bone].rotation_mode = "XYZ"
            pose[bone].rotation_euler = rot
            pose[bone].keyframe_insert("rotation_euler", frame=frame)
    bpy.context.view_layer.update()
    corners = [head.matrix_world @ __import__("mathutils").Vector(c) for c in head.bound_box]
    centre = sum(corners, __import__("mathutils").Vector()) / 8
    cam = add_camera(location=(centre.x + 0.05, centre.y - 1.2, centre.z + 0.03),
                     rotation_deg=(90, 0, 2), lens=50.0)
    animate_camera(cam, frames, travel=0.03)
    return head, arm, cam, driven


FLAME_BONES = (  # the armature of the FLAME Blender add-on: name, head, tail, parent
    ("root", (0, 0, -2), (0, 0, -1.6), None),
    ("neck", (0, 0, -1.6), (0, 0, -0.8), "root"),
    ("jaw", (0, -0.1, -0.3), (0, -0.9, -0.7), "neck"),
    ("left_eye", (0.35, -0.8, 0.25), (0.35, -1.1, 0.25), "neck"),
    ("right_eye", (-0.35, -0.8, 0.25), (-0.35, -1.1, 0.25), "neck"),
)


def flame_key_names(shape=300, expression=100):
    """The FLAME add-on's shape-key names: Shape000... identity, then Exp000... expression."""
    return [f"Shape{i:03d}" for i in range(shape)] + [f"Exp{i:03d}" for i in range(expression)]


def flame_head_scene(frames=3, shape=300, expression=100, size=32):
    """A FLAME-named rig as the FLAME add-on makes it (keys Shape000.../Exp000..., bones
    root/neck/jaw/left_eye/right_eye), Exp000-Exp002 and the jaw animated, a camera, and a
    ``size`` px square render. Returns (head mesh object, armature, camera)."""
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, frames
    scene.render.resolution_x = scene.render.resolution_y = size
    arm = add_armature(FLAME_BONES, name="FLAME")
    head = add_sphere_head(flame_key_names(shape, expression), name="FLAME_head", segments=12, rings=8,
                           armature=arm, head_bone="neck")
    head.pass_index = 1
    blocks = head.data.shape_keys.key_blocks
    for i, name in enumerate(("Exp000", "Exp001", "Exp002")):
        for frame in range(1, frames + 1):
            blocks[name].value = 0.5 + 0.4 * math.sin(frame + i)
            blocks[name].keyframe_insert("value", frame=frame)
    jaw = arm.pose.bones["jaw"]
    jaw.rotation_mode = "XYZ"
    for frame in range(1, frames + 1):
        jaw.rotation_euler = (0.1 * frame, 0, 0)
        jaw.keyframe_insert("rotation_euler", frame=frame)
    cam = add_camera()
    return head, arm, cam
