"""Rendered passes against the geometry: mask vs projected silhouette, depth, camera normals."""

import math

import bpy
import numpy as np

from blender_addon.export.exporter import ExportSettings, export_shot
from neural_core.contract.shot import read_shot, validate_shot
from neural_core.contract.shot.passes import read_passes
from tests.blender import export_rigs


def _triangles_camera(obj, depsgraph, w2c):
    """Camera-space (OpenCV) triangle corners [T, 3, 3] of the evaluated mesh of ``obj``."""
    obj_eval = obj.evaluated_get(depsgraph)
    mesh = obj_eval.to_mesh()
    mesh.calc_loop_triangles()
    co = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", co)
    tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
    mesh.loop_triangles.foreach_get("vertices", tris)
    obj_eval.to_mesh_clear()
    m = w2c @ np.array(obj_eval.matrix_world, dtype=np.float64)
    cam = co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]
    return cam[tris.reshape(-1, 3)]


def rasterize(triangles, K, width, height):
    """Z-buffer of camera-space triangles [T, 3, 3] at pixel centres -> depth [H, W] (inf = empty).

    Perspective-correct: 1/z is interpolated linearly in screen space.
    """
    depth = np.full((height, width), np.inf)
    uv = triangles @ K.T
    uv = uv[..., :2] / uv[..., 2:3]
    inv_z = 1.0 / triangles[..., 2]
    for (a, b, c), (za, zb, zc) in zip(uv, inv_z):
        x0, y0 = np.floor(np.minimum(np.minimum(a, b), c) - 0.5).astype(int)
        x1, y1 = np.ceil(np.maximum(np.maximum(a, b), c) - 0.5).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)
        if x1 < x0 or y1 < y0:
            continue
        px, py = np.meshgrid(np.arange(x0, x1 + 1) + 0.5, np.arange(y0, y1 + 1) + 0.5)
        area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        if abs(area) < 1e-12:
            continue
        w_a = ((b[0] - px) * (c[1] - py) - (b[1] - py) * (c[0] - px)) / area
        w_b = ((c[0] - px) * (a[1] - py) - (c[1] - py) * (a[0] - px)) / area
        w_c = 1.0 - w_a - w_b
        inside = (w_a >= 0) & (w_b >= 0) & (w_c >= 0)
        z = 1.0 / (w_a * za + w_b * zb + w_c * zc)
        window = depth[y0:y1 + 1, x0:x1 + 1]
        closer = inside & (z < window)
        window[closer] = z[closer]
    return depth


def test_bundled_head_mask_and_depth_match_the_projected_mesh(tmp_path):
    head, arm, cam, driven = export_rigs.bundled_head_scene(frames=12)
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = 128
    folder = export_shot(scene, ExportSettings(output=str(tmp_path / "shot"), frame_start=7,
                                               frame_end=7, samples=1))
    shot = validate_shot(folder)
    assert set(shot.passes) == {"depth", "normal", "albedo", "mask", "regions"}
    record = shot.frame(7)
    passes = read_passes(folder, 7)
    scene.frame_set(7)
    dg = bpy.context.evaluated_depsgraph_get()
    parts = [head] + [o for o in scene.objects if o.type == "MESH" and o.parent == arm and o != head]
    triangles = np.concatenate([_triangles_camera(o, dg, record.world_to_camera) for o in parts])
    raster = rasterize(triangles, record.K, 128, 128)
    silhouette = np.isfinite(raster)
    mask = passes["mask"] > 0.5
    iou = (mask & silhouette).sum() / (mask | silhouette).sum()
    assert silhouette.sum() > 1000 and iou >= 0.97, iou
    # Depth at the pixels that hold a head vertex, away from silhouette/occlusion edges.
    points = _triangles_camera(head, dg, record.world_to_camera).reshape(-1, 3)
    uv = points @ record.K.T
    px = np.floor(uv[:, :2] / uv[:, 2:3]).astype(int)
    px = np.unique(px[(px >= 1).all(1) & (px < 127).all(1)], axis=0)
    rendered = passes["depth"][px[:, 1], px[:, 0]]
    expected = raster[px[:, 1], px[:, 0]]
    neighbourhood = np.stack([raster[px[:, 1] + dy, px[:, 0] + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    smooth = np.isfinite(neighbourhood).all(0) & (np.ptp(neighbourhood, axis=0) < 0.01)
    error = np.abs(rendered[smooth] - expected[smooth])
    assert smooth.sum() > 200
    assert np.quantile(error, 0.99) < 0.001, np.quantile(error, [0.5, 0.99, 1.0])
    assert np.isinf(passes["depth"][~mask & ~silhouette]).all()
    # Regions: the materials' pass indices (bundled head: region id + 1) on the head only.
    indices = {s.material.pass_index for o in parts for s in o.material_slots}
    assert set(np.unique(passes["regions"][mask])) <= indices
    assert len(np.unique(passes["regions"][mask])) >= 3
    assert (passes["regions"][~mask] == -1).all()


def test_sphere_normals_are_in_opencv_camera_space(tmp_path):
    scene = bpy.context.scene
    scene.frame_start = scene.frame_end = 1
    head = export_rigs.add_sphere_head(["jawOpen"], segments=96, rings=48, radius=1.0)
    head.location = (0.3, 0.2, -0.1)
    export_rigs.add_camera(location=(1.5, -4.0, 1.2), rotation_deg=(75, 0, 20), lens=40)
    scene.render.resolution_x, scene.render.resolution_y = 96, 80
    folder = export_shot(scene, ExportSettings(output=str(tmp_path / "sphere"), samples=1))
    shot = read_shot(folder)
    record = shot.frames[0]
    normal = read_passes(folder, 1, names=["normal", "mask"])
    centre = record.world_to_camera @ np.array([0.3, 0.2, -0.1, 1.0])
    height, width = normal["mask"].shape
    px, py = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    rays = np.stack([px, py, np.ones_like(px)], -1) @ np.linalg.inv(record.K).T
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    b = rays @ centre[:3]
    disc = b ** 2 - (centre[:3] @ centre[:3] - 1.0)
    hit = (disc > 0.05) & (normal["mask"] > 0.5)  # away from the rim
    t = b - np.sqrt(np.where(disc > 0, disc, 0))
    truth = rays * t[..., None] - centre[:3]
    truth /= np.linalg.norm(truth, axis=-1, keepdims=True)
    cos = np.clip((normal["normal"][hit] * truth[hit]).sum(-1), -1, 1)
    angles = np.degrees(np.arccos(cos))
    assert hit.sum() > 500
    assert np.median(angles) <= 2.0, np.median(angles)
    # Facing the camera: OpenCV camera normals point back towards it (negative z).
    assert (normal["normal"][hit][:, 2] < 0).mean() > 0.99
    assert (normal["normal"][normal["mask"] == 0] == 0).all()
    assert shot.passes["normal"].space == "world" and math.isclose(
        np.linalg.norm(normal["normal"][hit], axis=-1).mean(), 1.0, abs_tol=1e-4)
