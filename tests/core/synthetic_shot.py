"""A small synthetic shot folder written the way Blender 4.5's Cycles writes passes.

A disc-shaped "head" whose normals are those of a sphere, one region inside another,
coefficients that change per frame; enough to drive the renderer without Blender.
"""

import numpy as np

from neural_core.contract import shot as fmt
from neural_core.contract.shot.exr import write_exr_channels

COEFFICIENTS = ["jawOpen", "eyeBlinkLeft", "mouthSmileLeft"]


def _camera():
    w2c = np.eye(4)
    w2c[:3, :3] = np.diag([1.0, -1.0, -1.0])  # Blender camera looking down -Z -> OpenCV
    w2c[:3, 3] = [0.0, 0.0, 1.0]
    return w2c


def make_shot(n_frames=4, size=(24, 16), coefficient_values=None):
    width, height = size
    w2c = _camera()
    K = np.array([[30.0, 0.0, width / 2], [0.0, 30.0, height / 2], [0.0, 0.0, 1.0]])
    identity = fmt.Transform(np.eye(3), np.zeros(3))
    records = []
    for index in range(n_frames):
        values = (coefficient_values[index] if coefficient_values is not None
                  else [0.1 * index, 0.5, 0.05 * index])
        records.append(fmt.FrameRecord(
            frame=index + 1, coefficients=np.array(values, dtype=np.float64), head_world=identity,
            head_camera=fmt.Transform.from_matrix(w2c), joints={}, K=K, world_to_camera=w2c))
    passes = {
        "depth": fmt.PassInfo(["Z"], "camera", "m", "ViewLayer.Depth"),
        "normal": fmt.PassInfo(["X", "Y", "Z"], "world", "unit-vector", "ViewLayer.Normal"),
        "albedo": fmt.PassInfo(["R", "G", "B"], "linear-rgb", "reflectance", "ViewLayer.DiffCol"),
        "mask": fmt.PassInfo(["X"], "screen", "coverage", "ViewLayer.IndexOB"),
        "regions": fmt.PassInfo(["X"], "screen", "id", "ViewLayer.IndexMA"),
    }
    return fmt.Shot(fps=24.0, resolution=(width, height), pixel_aspect=1.0, rig_profile="arkit52",
                    coefficient_names=list(COEFFICIENTS), frames=records, passes=passes,
                    render={"engine": "CYCLES", "mask_pass_index": 1, "depth": "planar"})


def pass_channels(shot, frame_index=0):
    """Blender-4.5-named channels {name: [H, W] float32} for one frame."""
    width, height = shot.resolution
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (x + 0.5 - width / 2) / (0.4 * min(width, height))
    v = (y + 0.5 - height / 2) / (0.4 * min(width, height))
    r2 = u * u + v * v
    inside = r2 < 1.0
    nz = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    # world normals: camera x = world x, camera y = -world y, camera z = -world z
    normal_world = np.stack([u, -v, nz], axis=-1) * inside[..., None]
    depth = np.where(inside, 1.0 - 0.1 * nz, 1e10).astype(np.float32)
    channels = {"ViewLayer.Depth.Z": depth, "ViewLayer.Combined.R": np.zeros_like(depth)}
    for i, c in enumerate("XYZ"):
        channels[f"ViewLayer.Normal.{c}"] = normal_world[..., i].astype(np.float32)
    for c, value in zip("RGB", (0.6, 0.45, 0.4)):
        channels[f"ViewLayer.DiffCol.{c}"] = np.where(inside, value, 0.0).astype(np.float32)
    channels["ViewLayer.IndexOB.X"] = inside.astype(np.float32)
    regions = np.where(inside, 1.0, 0.0) + np.where(r2 < 0.2 + 0.02 * frame_index, 1.0, 0.0)
    channels["ViewLayer.IndexMA.X"] = regions.astype(np.float32)
    return channels


def write_shot_folder(folder, shot=None, **options):
    shot = shot or make_shot(**options)
    fmt.write_shot(folder, shot)
    for index, record in enumerate(shot.frames):
        path = fmt.pass_path(folder, record.frame)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_exr_channels(path, pass_channels(shot, index % 2))
    return shot


def save_tiny_model(path):
    """A tiny conditional model reading the first two COEFFICIENTS, saved at ``path`` (seeded)."""
    import torch

    from neural_core.face_model.checkpoint import save_conditional
    from neural_core.face_model.config import tiny_config
    from neural_core.face_model.model import ConditionalModel

    torch.manual_seed(0)
    save_conditional(ConditionalModel(tiny_config(coefficient_names=COEFFICIENTS[:2])), path)
    return path
