"""Camera intrinsics and extrinsics in OpenCV convention, for the image Blender renders.

OpenCV camera axes: +X right, +Y down, +Z forward (Blender's camera looks down its -Z
with +Y up, so the two differ by a 180 degree turn about X). Pixel coordinates are
continuous with (0, 0) at the top-left corner of the top-left pixel, so pixel centres
sit at i + 0.5.
"""

import numpy as np

from ..core_link import NeuralFaceError

# Blender camera axes -> OpenCV camera axes.
BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


def output_size(render):
    """(width, height) in pixels of the rendered image, render percentage applied.

    ``render``: ``scene.render``. Blender truncates ``resolution * percentage / 100``.
    """
    scale = render.resolution_percentage
    return (render.resolution_x * scale // 100, render.resolution_y * scale // 100)


def intrinsics(camera_data, width, height, pixel_aspect_x=1.0, pixel_aspect_y=1.0):
    """Intrinsic matrix K [3, 3] in pixels for a perspective Blender camera.

    ``camera_data``: a ``bpy.types.Camera`` (or anything with ``type``, ``lens`` in mm,
    ``sensor_width``/``sensor_height`` in mm, ``sensor_fit``, ``shift_x``/``shift_y`` in
    units of the fitted view dimension). ``width``/``height``: output size in pixels.
    ``pixel_aspect_*``: ``scene.render.pixel_aspect_x/y``.

    Follows Blender's view-plane rule: AUTO fits ``sensor_width`` to the larger side
    (measured with pixel aspect applied), HORIZONTAL fits ``sensor_width`` to the width,
    VERTICAL fits ``sensor_height`` to the height; non-square pixels make fy = fx / ycor
    with ycor = aspect_y / aspect_x. Raises NeuralFaceError for non-perspective cameras.
    """
    if camera_data.type != "PERSP":
        raise NeuralFaceError(
            f"camera '{camera_data.name}' is {camera_data.type.lower()}: only perspective "
            "cameras are supported (orthographic and panoramic projections cannot be "
            "described by a pinhole K); switch the camera type to Perspective")
    ycor = pixel_aspect_y / pixel_aspect_x
    fit = camera_data.sensor_fit
    if fit == "AUTO":
        sensor = camera_data.sensor_width
        fit = "HORIZONTAL" if pixel_aspect_x * width >= pixel_aspect_y * height else "VERTICAL"
    elif fit == "HORIZONTAL":
        sensor = camera_data.sensor_width
    else:
        sensor = camera_data.sensor_height
    view = width if fit == "HORIZONTAL" else ycor * height  # pixels spanned by `sensor`
    fx = camera_data.lens * view / sensor
    fy = fx / ycor
    cx = width / 2.0 - camera_data.shift_x * view
    cy = height / 2.0 + camera_data.shift_y * view / ycor
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def world_to_camera(camera_matrix_world):
    """World -> camera [4, 4] in OpenCV axes, from the camera object's ``matrix_world``.

    Scale on the camera object is ignored (as Blender's renderer does).
    """
    m = np.array(camera_matrix_world, dtype=np.float64)
    rotation = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0, keepdims=True)
    world_to_blender_camera = np.eye(4)
    world_to_blender_camera[:3, :3] = rotation.T  # rotation inverse = transpose
    world_to_blender_camera[:3, 3] = -rotation.T @ m[:3, 3]
    return BLENDER_TO_OPENCV @ world_to_blender_camera


def project(points_world, K, w2c):
    """Project world points [N, 3] to pixels [N, 2] (x right, y down); also returns z [N]."""
    points = np.asarray(points_world, dtype=np.float64)
    cam = points @ w2c[:3, :3].T + w2c[:3, 3]
    z = cam[:, 2]
    uv = (cam @ K.T)[:, :2] / z[:, None]
    return uv, z


def scene_camera(scene, depsgraph):
    """The evaluated scene camera object; NeuralFaceError when there is none or it is unusable."""
    camera = scene.camera
    if camera is None:
        raise NeuralFaceError(
            f"scene '{scene.name}' has no active camera: add a camera and make it the "
            "scene camera (Scene properties > Camera)")
    if camera.type != "CAMERA":
        raise NeuralFaceError(f"the scene camera '{camera.name}' is not a camera object")
    return camera.evaluated_get(depsgraph)


def camera_frame(scene, depsgraph):
    """(K [3, 3], world_to_camera [4, 4]) of the scene camera at the current frame."""
    camera = scene_camera(scene, depsgraph)
    width, height = output_size(scene.render)
    K = intrinsics(camera.data, width, height,
                   scene.render.pixel_aspect_x, scene.render.pixel_aspect_y)
    return K, world_to_camera(camera.matrix_world)
