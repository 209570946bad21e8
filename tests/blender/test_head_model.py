"""The actor head model against real Blender: it reproduces the evaluated landmarks, and
the committed model file is what a fresh export of today's head gives.

On Blender 5.0 the head's eye drivers read 0 wherever their result falls in [0, 1e-4) m
(see ``landmark_model.LEVER``); the draws here stay clear of that, as nearly every pose
does, and the export itself is the same on 4.5 and 5.0.
"""

import time

import bpy
import numpy as np
import pytest
from mathutils import Matrix

from blender_addon.head import build, eyes, landmark_model, mesh
from neural_core.actor import rotations
from neural_core.actor.head_model import DEFAULT_PATH, HeadModel, load_head_model

TOLERANCE = 1e-4  # metres: 0.1 mm


@pytest.fixture
def head():
    return build.build_head(location=(0.3, -0.2, 1.0))


@pytest.fixture(scope="module")
def model():
    return load_head_model()


def _pose_head(head, model, identity, expression, pose, rotation, translation):
    blocks = head.mesh.data.shape_keys.key_blocks
    for name, value in zip(model.identity_names, identity):
        blocks[name].value = float(value)
    for name, value in zip(model.expression_names, expression):
        blocks[name].value = float(value)
    for name, angles in zip(model.bone_names, pose):
        head.armature.pose.bones[name].rotation_euler = tuple(float(a) for a in angles)
    placement = np.eye(4)
    placement[:3, :3] = rotations.axis_angle(rotation)
    placement[:3, 3] = translation
    head.armature.matrix_world = Matrix(placement.tolist())


def _blender_world_landmarks(head):
    """[478, 3] world positions, read straight from Blender's evaluated data."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    head_eval = head.mesh.evaluated_get(depsgraph)
    data = head_eval.to_mesh()
    co = np.array([tuple(data.vertices[i].co) for i in head.mesh["neural_face_landmarks"]])
    head_eval.to_mesh_clear()
    world = np.array(head_eval.matrix_world)
    out = [co @ world[:3, :3].T + world[:3, 3]]
    for side in ("R", "L"):  # landmarks 468..472: the subject's right eye; 473..477: left
        eye = next(e for e in head.eyes if e.name.endswith(side)).evaluated_get(depsgraph)
        local = np.array([tuple(eye.data.vertices[int(i)].co) for i in landmark_model.IRIS_VERTICES])
        m = np.array(eye.matrix_world)
        out.append(local @ m[:3, :3].T + m[:3, 3])
    return np.concatenate(out)


def _draws():
    rng = np.random.default_rng(14)
    zeros = dict(identity=np.zeros(28), expression=np.zeros(52), pose=np.zeros((5, 3)),
                 rotation=np.zeros(3), translation=np.zeros(3))
    yield "rest", zeros
    yield "all keys 1", dict(zeros, identity=np.ones(28), expression=np.ones(52))
    yield "identity -1", dict(zeros, identity=-np.ones(28), pose=np.full((5, 3), 0.3))
    extreme = np.array([[0.6, 0.6, -0.6], [-0.8, 0.8, 0.8], [0.6, 0.3, -0.3], [0.7, 0, -0.7], [-0.7, 0, 0.7]])
    yield "extreme pose", dict(identity=np.ones(28), expression=np.ones(52), pose=extreme,
                               rotation=np.array([1.0, -2.0, 0.5]), translation=np.array([2.0, -1.0, 0.5]))
    for i in range(5):
        yield f"random {i}", dict(identity=rng.uniform(0, 1, 28), expression=rng.uniform(0, 1, 52),
                                  pose=rng.uniform(-0.5, 0.5, (5, 3)), rotation=rng.uniform(-1, 1, 3),
                                  translation=rng.uniform(-1, 1, 3))


def test_the_model_reproduces_blenders_evaluated_landmarks(head, model):
    worst = {}
    for label, draw in _draws():
        _pose_head(head, model, **draw)
        expected = _blender_world_landmarks(head)
        got = model.landmarks(**draw)
        error = np.linalg.norm(got - expected, axis=1)
        worst[label] = (error[:468].max(), error[468:].max())
        assert error.max() < TOLERANCE, f"{label}: landmark {error.argmax()} off by {error.max() * 1000:.4f} mm"
    print("max error (face, iris) in mm:",
          {k: (round(f * 1000, 5), round(i * 1000, 5)) for k, (f, i) in worst.items()})


def test_a_frame_batch_matches_blender_frame_by_frame(head, model):
    draws = [d for _, d in _draws()][-3:]
    batch = model.landmarks(**{k: np.stack([d[k] for d in draws]) for k in draws[0]})
    for frame, draw in zip(batch, draws):
        _pose_head(head, model, **draw)
        np.testing.assert_allclose(frame, _blender_world_landmarks(head), atol=TOLERANCE)


def test_the_committed_file_is_a_fresh_export():
    start = time.perf_counter()
    fresh = landmark_model.build_and_measure()
    print(f"measured in {time.perf_counter() - start:.2f} s on Blender {bpy.app.version_string}")
    assert len(bpy.data.objects) == 0 and len(bpy.data.meshes) == 0  # it cleans up
    with np.load(DEFAULT_PATH, allow_pickle=False) as stored:
        stored = dict(stored)
    problems = landmark_model.differences(fresh, stored)
    assert problems == [], f"{DEFAULT_PATH} is out of date; run tools/export_head_model.py: {problems}"
    # and the fresh arrays load as a model (the exporter writes exactly these)
    assert HeadModel(fresh).landmarks().shape == (478, 3)


def test_iris_points_are_the_eyeball_pole_and_the_iris_edge(head):
    local = np.array([tuple(head.eyes[0].data.vertices[int(i)].co) for i in landmark_model.IRIS_VERTICES])
    r, a = mesh.EYE_RADIUS, eyes.IRIS_ANGLE
    expected = [(0, -r, 0), (r * np.sin(a), -r * np.cos(a), 0), (0, -r * np.cos(a), r * np.sin(a)),
                (-r * np.sin(a), -r * np.cos(a), 0), (0, -r * np.cos(a), -r * np.sin(a))]
    np.testing.assert_allclose(local, expected, atol=1e-6)


def test_measuring_refuses_a_placed_posed_or_keyed_head(head):
    depsgraph = bpy.context.evaluated_depsgraph_get()
    with pytest.raises(RuntimeError, match="at the origin"):  # the fixture's head is moved
        landmark_model.measure(head, depsgraph)
    head.armature.location = (0, 0, 0)
    head.armature.pose.bones["eye.L"].rotation_euler = (0.2, 0, 0)
    with pytest.raises(RuntimeError, match="eye.L"):
        landmark_model.measure(head, depsgraph)
    head.armature.pose.bones["eye.L"].rotation_euler = (0, 0, 0)
    head.mesh.data.shape_keys.key_blocks["jawOpen"].value = 0.5
    with pytest.raises(RuntimeError, match="every shape key"):
        landmark_model.measure(head, depsgraph)
    head.mesh.data.shape_keys.key_blocks["jawOpen"].value = 0.0
    assert landmark_model.measure(head, depsgraph)["face_mean"].shape == (468, 3)
