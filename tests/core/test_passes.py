"""Canonical pass reading from Blender-style multilayer EXRs (4.5 and 5.0 layer names)."""

import numpy as np
import pytest

from neural_core.contract.errors import ShotFormatError
from neural_core.contract import shot as fmt
from neural_core.contract.shot import passes
from neural_core.contract.shot.exr import write_exr_channels

W, H = 8, 6
K = np.array([[10.0, 0, 4.0], [0, 10.0, 3.0], [0, 0, 1]])


def _rotation_z(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _shot(version):
    names = {"albedo": ("DiffCol", "Diffuse Color"), "mask": ("IndexOB", "Object Index"),
             "regions": ("IndexMA", "Material Index")}
    pick = 0 if version == "4.5" else 1
    w2c = np.eye(4)
    w2c[:3, :3] = np.diag([1.0, -1.0, -1.0]) @ _rotation_z(0.3)
    w2c[:3, 3] = [0.1, 0.2, 3.0]
    identity = fmt.Transform(np.eye(3), np.zeros(3))
    record = fmt.FrameRecord(frame=1, coefficients=np.zeros(2), head_world=identity,
                             head_camera=fmt.Transform.from_matrix(w2c), joints={}, K=K, world_to_camera=w2c)
    infos = {
        "depth": fmt.PassInfo(["Z"], "camera", "m", "ViewLayer.Depth"),
        "normal": fmt.PassInfo(["X", "Y", "Z"], "world", "unit-vector", "ViewLayer.Normal"),
        "albedo": fmt.PassInfo(["R", "G", "B"], "linear-rgb", "reflectance",
                               "ViewLayer." + names["albedo"][pick]),
        "mask": fmt.PassInfo(["X"], "screen", "coverage", "ViewLayer." + names["mask"][pick]),
        "regions": fmt.PassInfo(["X"], "screen", "id", "ViewLayer." + names["regions"][pick]),
    }
    return fmt.Shot(fps=24.0, resolution=(W, H), pixel_aspect=1.0, rig_profile="arkit52",
                    coefficient_names=["a", "b"], frames=[record], passes=infos,
                    render={"engine": "CYCLES", "mask_pass_index": 2, "depth": "planar"})


def _channels(shot, rng):
    z = rng.uniform(2.0, 4.0, size=(H, W)).astype(np.float32)
    z[0, :] = 1e10  # Cycles background
    normal = rng.normal(size=(H, W, 3))
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    normal[0, :] = 0.0
    index = np.zeros((H, W), np.float32)
    index[2:, 3:] = 2.0  # the head
    index[2:, :2] = 1.0  # another object
    material = np.full((H, W), 3.0, np.float32)
    out = {"ViewLayer.Depth.Z": z, "ViewLayer.Combined.R": np.zeros((H, W), np.float32)}
    for c, i in zip("XYZ", range(3)):
        out[f"ViewLayer.Normal.{c}"] = normal[..., i].astype(np.float32)
    for c, v in zip("RGB", (0.1, 0.2, 0.3)):
        out[f"{shot.passes['albedo'].source}.{c}"] = np.full((H, W), v, np.float32)
    out[f"{shot.passes['mask'].source}.X"] = index
    out[f"{shot.passes['regions'].source}.X"] = material
    return out, z, normal


@pytest.mark.parametrize("version", ["4.5", "5.0"])
def test_read_passes_gives_canonical_passes(tmp_path, version):
    shot = _shot(version)
    channels, z, normal = _channels(shot, np.random.default_rng(1))
    fmt.write_shot(tmp_path, shot)
    (tmp_path / "passes").mkdir()
    write_exr_channels(fmt.pass_path(tmp_path, 1), channels)
    out = passes.read_passes(tmp_path, 1)
    assert set(out) == {"depth", "normal", "albedo", "mask", "regions"}
    assert np.isinf(out["depth"][0]).all() and np.allclose(out["depth"][1:], z[1:])
    rotation = shot.frames[0].world_to_camera[:3, :3]
    np.testing.assert_allclose(out["normal"][1:], normal[1:] @ rotation.T, atol=1e-6)
    assert (out["normal"][0] == 0).all()
    np.testing.assert_allclose(out["albedo"][3, 3], [0.1, 0.2, 0.3], atol=1e-7)
    assert out["mask"].sum() == 4 * 5 and out["mask"][2, 0] == 0.0
    assert (out["regions"][out["mask"] > 0] == 3).all() and (out["regions"][out["mask"] == 0] == -1).all()
    assert all(v.dtype == np.float32 for v in out.values())
    # The same through a parsed Shot plus its folder, and a subset.
    only = passes.read_passes(fmt.read_shot(tmp_path), 1, tmp_path, names=["regions"])
    assert list(only) == ["regions"] and np.array_equal(only["regions"], out["regions"])


def test_read_passes_errors_name_file_frame_and_channel(tmp_path):
    shot = _shot("4.5")
    channels, _, _ = _channels(shot, np.random.default_rng(2))
    del channels["ViewLayer.Normal.Y"]
    fmt.write_shot(tmp_path, shot)
    (tmp_path / "passes").mkdir()
    write_exr_channels(fmt.pass_path(tmp_path, 1), channels)
    with pytest.raises(ShotFormatError) as info:
        passes.read_passes(tmp_path, 1, names=["normal"])
    assert "ViewLayer.Normal.Y" in str(info.value) and "0001.exr" in str(info.value)
    assert info.value.frame == 1
    with pytest.raises(ShotFormatError, match="no such frame"):
        passes.read_passes(tmp_path, 7)
    with pytest.raises(ShotFormatError, match="no 'uv' pass"):
        passes.read_passes(tmp_path, 1, names=["uv"])
    with pytest.raises(ShotFormatError, match="needs the shot folder"):
        passes.read_passes(shot, 1)


def test_radial_depth_is_converted_to_planar():
    planar = np.full((H, W), 2.0, np.float32)
    x = (np.arange(W) + 0.5 - K[0, 2]) / K[0, 0]
    y = (np.arange(H) + 0.5 - K[1, 2]) / K[1, 1]
    radial = planar * np.sqrt(1 + x[None] ** 2 + y[:, None] ** 2)
    np.testing.assert_allclose(passes.depth_from_pass(radial, K, "radial"), planar, rtol=1e-6)
    np.testing.assert_array_equal(passes.depth_from_pass(planar, K, "planar"), planar)
    with pytest.raises(ShotFormatError, match="unknown depth kind"):
        passes.depth_from_pass(planar, K, "fisheye")


def test_mask_and_normals_helpers():
    assert passes.mask_from_pass(np.array([[0.0, 1.0, 2.0]]), 1).tolist() == [[0, 1, 0]]
    assert passes.mask_from_pass(np.array([[-0.5, 0.25, 3.0]])).tolist() == [[0, 0.25, 1]]
    n = passes.normals_to_camera(np.array([[[0.0, 0.0, 2.0], [0, 0, 0]]]), np.diag([1.0, -1, -1]))
    assert n.tolist() == [[[0, 0, -1], [0, 0, 0]]]


def test_layer_names_follow_the_blender_version():
    assert passes.layer_name("ViewLayer", "albedo", (4, 5, 15)) == "ViewLayer.DiffCol"
    assert passes.layer_name("ViewLayer", "albedo", (5, 0, 1)) == "ViewLayer.Diffuse Color"
    assert passes.layer_name("VL", "mask", (5, 0, 1)) == "VL.Object Index"
    assert passes.layer_name("VL", "regions", (4, 2, 0)) == "VL.IndexMA"
    assert passes.layer_name("VL", "depth", (5, 0, 1)) == "VL.Depth"
