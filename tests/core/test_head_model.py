"""The actor head model without Blender: loading, validation, shapes, Jacobians, conventions."""

import subprocess
import sys
import zipfile

import numpy as np
import pytest

from blender_addon.head import canonical
from neural_core.actor import rotations
from neural_core.actor.head_model import (
    BONES, DEFAULT_PATH, FORMAT, VERSION, HeadModelError, load_head_model)
from neural_core.contract.errors import CheckpointError, NeuralFaceError
from neural_core.contract.rig.arkit import ARKIT_52
from tests.conftest import ROOT

NOSE_TIP, CHIN = 1, 152


@pytest.fixture(scope="module")
def model():
    return load_head_model()


@pytest.fixture(scope="module")
def stored():
    with np.load(DEFAULT_PATH, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _draw(rng, frames=None):
    lead = () if frames is None else (frames,)
    return dict(identity=rng.uniform(-1, 1, lead + (28,)), expression=rng.uniform(0, 1, lead + (52,)),
                pose=rng.uniform(-0.4, 0.4, lead + (5, 3)), rotation=rng.uniform(-1, 1, lead + (3,)),
                translation=rng.uniform(-1, 1, lead + (3,)))


# -- the committed file ----------------------------------------------------------------
def test_committed_file_is_small_versioned_and_named(model, stored):
    assert DEFAULT_PATH.stat().st_size < 400 * 1024
    assert str(stored["format"]) == FORMAT and int(stored["version"]) == VERSION == model.format_version
    assert all(a.dtype != object for a in stored.values())
    assert model.identity_names == tuple(f"id_{i:02d}" for i in range(28))
    assert model.expression_names == tuple(ARKIT_52)
    assert model.bone_names == BONES


def test_rest_face_landmarks_are_the_canonical_face_in_the_head_frame(model):
    positions, _, _ = canonical.read_obj()
    np.testing.assert_allclose(model.landmarks()[:468], canonical.to_head_frame(positions), atol=1e-6)


def test_iris_landmarks_sit_on_the_eyeballs_in_mediapipe_order(model):
    points = model.landmarks()
    for centre, side in ((468, -1), (473, 1)):  # 468: subject's right eye (-X)
        c, ring = points[centre], points[centre + 1:centre + 5]
        assert np.sign(c[0]) == side
        radius = np.linalg.norm((ring - c)[:, [0, 2]], axis=1)  # the iris edge, seen from the front
        np.testing.assert_allclose(radius, 0.0118 * np.sin(0.5), atol=1e-6)
        assert ring[0, 0] > c[0] > ring[2, 0] and ring[1, 2] > c[2] > ring[3, 2]  # +X, +Z, -X, -Z
    # the right iris sits inside the right eye's lid contour (landmarks 33 and 133)
    assert points[33, 0] < points[468, 0] < points[133, 0]
    assert points[263, 0] > points[473, 0] > points[362, 0]


# -- evaluation ------------------------------------------------------------------------
def test_shapes_and_batch_equals_single(model):
    rng = np.random.default_rng(1)
    batch = _draw(rng, frames=4)
    out = model.landmarks(**batch)
    assert out.shape == (4, 478, 3) and out.dtype == np.float64
    for f in range(4):
        single = model.landmarks(**{k: v[f] for k, v in batch.items()})
        assert single.shape == (478, 3)
        np.testing.assert_allclose(out[f], single, atol=1e-12)
    # a shared identity broadcasts over the frames of the others
    shared = model.landmarks(batch["identity"][0], batch["expression"], batch["pose"])
    for f in range(4):
        single = model.landmarks(batch["identity"][0], batch["expression"][f], batch["pose"][f])
        np.testing.assert_allclose(shared[f], single, atol=1e-12)
    assert model.landmarks(expression=batch["expression"][:1]).shape == (1, 478, 3)


def test_pose_as_dict_equals_array(model):
    pose = np.zeros((5, 3))
    pose[2] = (0.2, 0.0, 0.05)
    pose[4] = (0.1, 0.0, -0.2)
    as_dict = model.landmarks(pose={"jaw": pose[2], "eye.R": pose[4]})
    np.testing.assert_array_equal(as_dict, model.landmarks(pose=pose))
    frames = model.landmarks(pose={"jaw": np.stack([pose[2]] * 3), "eye.R": pose[4]})
    assert frames.shape == (3, 478, 3)
    np.testing.assert_array_equal(frames[1], as_dict)


def test_rigid_placement(model):
    rng = np.random.default_rng(2)
    draw = _draw(rng)
    head_frame = model.landmarks(draw["identity"], draw["expression"], draw["pose"])
    placed = model.landmarks(**draw)
    turn = rotations.axis_angle(draw["rotation"])
    np.testing.assert_allclose(placed, head_frame @ turn.T + draw["translation"], atol=1e-12)


def test_keys_are_linear_at_a_fixed_pose(model):
    rng = np.random.default_rng(3)
    draw = _draw(rng)
    a, b = _draw(rng), _draw(rng)
    mix = {k: draw[k] for k in ("pose", "rotation", "translation")}
    la = model.landmarks(a["identity"], a["expression"], **mix)
    lb = model.landmarks(b["identity"], b["expression"], **mix)
    lm = model.landmarks(0.3 * a["identity"] + 0.7 * b["identity"],
                         0.3 * a["expression"] + 0.7 * b["expression"], **mix)
    np.testing.assert_allclose(lm, 0.3 * la + 0.7 * lb, atol=1e-12)


def test_jacobian_matches_finite_differences(model):
    rng = np.random.default_rng(4)
    draw = _draw(rng, frames=2)
    points, j_id, j_ex = model.landmarks_and_jacobian(**draw)
    assert j_id.shape == (2, 478, 3, 28) and j_ex.shape == (2, 478, 3, 52)
    np.testing.assert_array_equal(points, model.landmarks(**draw))
    h = 1e-3  # exact for affine maps: any step works
    for name, jac, count in (("identity", j_id, 28), ("expression", j_ex, 52)):
        for k in range(count):
            up, down = dict(draw), dict(draw)
            up[name] = draw[name].copy()
            down[name] = draw[name].copy()
            up[name][:, k] += h
            down[name][:, k] -= h
            numeric = (model.landmarks(**up) - model.landmarks(**down)) / (2 * h)
            np.testing.assert_allclose(jac[..., k], numeric, atol=1e-9, err_msg=f"{name} {k}")
    assert np.abs(j_id[:, 468:]).max() > 1e-4  # the eyes follow identity keys (size, position)
    assert np.abs(j_ex[:, 468:]).max() == 0.0  # ... and no expression key


def test_unbatched_jacobian_has_no_frame_axis(model):
    _, j_id, j_ex = model.landmarks_and_jacobian(np.zeros(28), np.zeros(52))
    assert j_id.shape == (478, 3, 28) and j_ex.shape == (478, 3, 52)


def test_pose_conventions(model):
    rest = model.landmarks()

    def moved(bone, angles):
        return model.landmarks(pose={bone: angles}) - rest

    assert moved("jaw", (0.3, 0, 0))[CHIN, 2] < -0.01  # jaw +X opens: the chin drops
    assert np.abs(moved("jaw", (0.3, 0, 0))[NOSE_TIP]).max() < 1e-9
    assert moved("head", (0.2, 0, 0))[NOSE_TIP, 2] < -0.002  # head +X nods down
    assert moved("head", (0, 0.2, 0))[NOSE_TIP, 0] > 0.005  # head +Y turns to +X
    assert moved("neck", (0, 0.2, 0))[NOSE_TIP, 0] > 0.005
    for eye, centre in (("eye.L", 473), ("eye.R", 468)):
        assert moved(eye, (0.2, 0, 0))[centre, 2] > 0.002  # eye +X looks up
        assert moved(eye, (0, 0, 0.2))[centre, 0] > 0.002  # eye +Z looks to +X
        assert np.abs(moved(eye, (0.2, 0.1, 0.3))[:468]).max() == 0.0
    # gaze turns the iris about the eyeball centre: distances to it are kept
    turned = model.landmarks(pose={"eye.L": (0.3, 0.2, -0.4)})
    centre = model.eye_centre_mean[0]
    np.testing.assert_allclose(np.linalg.norm(turned[473:478] - centre, axis=1),
                               np.linalg.norm(rest[473:478] - centre, axis=1), atol=1e-7)  # float32 rig


def test_bad_arguments_raise_value_error(model):
    with pytest.raises(ValueError, match="identity"):
        model.landmarks(np.zeros(27))
    with pytest.raises(ValueError, match="frame counts"):
        model.landmarks(np.zeros((2, 28)), np.zeros((3, 52)))
    with pytest.raises(ValueError, match="unknown bones"):
        model.landmarks(pose={"spine": (0, 0, 0)})
    with pytest.raises(ValueError, match="pose"):
        model.landmarks(pose=np.zeros((4, 3)))


def test_rotation_helpers():
    rng = np.random.default_rng(5)
    for _ in range(5):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = rng.uniform(-3, 3)
        r = rotations.axis_angle(axis * angle)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(r @ axis, axis, atol=1e-12)
        np.testing.assert_allclose(np.trace(r), 1 + 2 * np.cos(angle), atol=1e-12)
    np.testing.assert_allclose(rotations.axis_angle(np.zeros(3)), np.eye(3))
    a, b, c = 0.3, -0.2, 0.5
    rx, ry, rz = (rotations.axis_angle(v) for v in ((a, 0, 0), (0, b, 0), (0, 0, c)))
    expected = rz @ ry @ rx
    np.testing.assert_allclose(rotations.euler_xyz((a, b, c)), expected, atol=1e-12)


# -- bad files -------------------------------------------------------------------------
def _write(path, arrays):
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def _error(path):
    with pytest.raises(HeadModelError) as caught:
        load_head_model(path)
    assert isinstance(caught.value, CheckpointError) and isinstance(caught.value, NeuralFaceError)
    assert str(path) in str(caught.value)
    return caught.value


def test_missing_and_unreadable_files(tmp_path):
    assert "no such file" in str(_error(tmp_path / "absent.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    assert "not a readable" in str(_error(tmp_path / "junk.npz"))
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    assert _error(tmp_path / "empty.npz").field == "format"


def test_a_pickled_field_is_refused_without_running_it(tmp_path, stored):
    arrays = dict(stored)
    arrays["identity_names"] = np.array([object()] * 28, dtype=object)
    error = _error(_write(tmp_path / "pickled.npz", arrays))
    assert "not a readable" in str(error) and "pickle" in str(error).lower()


@pytest.mark.parametrize("field, value, words", [
    ("format", np.array("something.else"), "not a Neural Face head model"),
    ("version", np.array(VERSION + 1), f"reads version {VERSION}"),
    ("version", np.array("1"), "integer"),
    ("face_mean", None, "missing"),
    ("face_mean", np.zeros((467, 3), np.float32), "shape"),
    ("face_identity", np.zeros((28, 468, 3), np.int32), "dtype"),
    ("eye_centre_identity", np.zeros((27, 2, 3), np.float32), "shape"),
    ("face_expression", np.full((52, 468, 3), np.nan, np.float32), "not finite"),
    ("expression_names", np.array(list(ARKIT_52[::-1])), "ARKit"),
    ("bone_names", np.array(["a", "b", "c", "d", "e"]), "expected"),
    ("bone_parents", np.array([-1, 0, 1, 1, 5]), "parent"),
    ("bone_rest", np.ones((5, 3, 3), np.float32), "rotation"),
    ("face_weights", np.full((468, 3), 0.5, np.float32), "sum to 1"),
    ("iris_landmarks", np.arange(468, 478).reshape(2, 5), "iris"),
])
def test_bad_fields_name_the_file_and_the_field(tmp_path, stored, field, value, words):
    arrays = dict(stored)
    if value is None:
        del arrays[field]
    else:
        arrays[field] = value
    path = _write(tmp_path / "bad.npz", arrays)
    error = _error(path)
    assert error.field == field and f"field '{field}'" in str(error)
    assert words in str(error)


def test_a_valid_copy_loads(tmp_path, stored):
    model = load_head_model(_write(tmp_path / "copy.npz", dict(stored)))
    np.testing.assert_array_equal(model.landmarks(), load_head_model().landmarks())


def test_importing_the_model_imports_neither_torch_nor_blender():
    script = ("import sys, neural_core.actor.head_model as m; m.load_head_model().landmarks(); "
              "print(sorted({'torch', 'bpy', 'mathutils'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
