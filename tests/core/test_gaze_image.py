"""The gaze read from the image (actor/gaze_image.py): eyes painted where the head model's
projected lids and iris ring put them (fit_shot.projected_vertices, the product's own
projection), then read back by the iris regions, the eyeball texture and the workflow."""

import dataclasses

import numpy as np
import pytest

from neural_core.actor import face_image, gaze_image, photometric, rotations
from neural_core.actor.fit import ActorFit, FitSettings, FrameFit
from neural_core.actor.fit_shot import projected_vertices
from neural_core.actor.head_model import BONES, load_head_model
from neural_core.actor.linear_head import LinearHead

SIZE = (400, 400)
FOCAL = 1100.0
NAMES = list(load_head_model().expression_names)
BLINKS = [NAMES.index("eyeBlinkLeft"), NAMES.index("eyeBlinkRight")]
IRIS = {"L": (473, 474, 475), "R": (468, 469, 470)}  # centre, the ring's +X and +Z points


@pytest.fixture(scope="module")
def model():
    return load_head_model()


def frame_at(model, gaze_deg, turn=(0.0, 0.0, 0.0), blink=0.0):
    """A frame of the mean head about 0.55 m away with both eyes turned ``gaze_deg`` (X, Z)."""
    expression = np.zeros(len(NAMES))
    expression[BLINKS] = blink
    gaze = np.radians(np.tile(gaze_deg, 2))
    frame = FrameFit(expression=expression, rotation=np.radians(np.asarray(turn, float)), translation=np.zeros(3),
                     gaze=gaze, focal=FOCAL, size=SIZE)
    # the head placed so the irises' midpoint lies on the optical axis (the image centre), 0.55 m away
    centre = LinearHead(model).points(np.zeros((1, model.num_identity)), expression[None], gaze[None])[0][[468, 473]].mean(0)
    return dataclasses.replace(frame, translation=np.array([0.0, 0.0, 0.55]) - frame.rotation_matrix() @ centre)


def outline(model, frame, side, tangent):
    """[64, 2] image pixels of the circle on ``side``'s eyeball at ``tangent`` (tan of its angle
    off the eye's axis) about the iris centre: the head model's eye turned by the frame's gaze
    (bone rest x Euler x rest^T, as LinearHead.iris), carried by the head, projected by K."""
    e = ("L", "R").index(side)
    axis = model.eye_points[0]
    phi = np.linspace(0.0, 2.0 * np.pi, 64, endpoint=False)
    angle = np.arctan(tangent)
    across = np.stack([np.cos(phi), np.zeros_like(phi), np.sin(phi)], -1) * np.linalg.norm(axis)  # the eye's X, Z
    points = np.cos(angle) * axis + np.sin(angle) * across
    rest = model.bone_rest[BONES.index(f"eye.{side}")]
    turn = rest @ rotations.euler_xyz(np.array([frame.gaze[2 * e], 0.0, frame.gaze[2 * e + 1]])) @ rest.T
    head = model.eye_centre_mean[e] + points @ turn.T
    camera = head @ frame.rotation_matrix().T + frame.translation
    return (camera @ frame.intrinsics().T)[:, :2] / camera[:, 2:3]


def paint(model, frame, supersample=4, iris_grey=0.3, pupil_grey=0.1, skin_grey=0.6):
    """[H, W] grey image: skin ``skin_grey``, the white of the eye 0.95 inside each lid contour,
    the iris ``iris_grey`` and the pupil ``pupil_grey`` (their circles on the eyeball,
    projected) within it."""
    from matplotlib.path import Path

    points = projected_vertices(model, np.zeros(model.num_identity), frame)
    ys, xs = np.mgrid[0:SIZE[1] * supersample, 0:SIZE[0] * supersample]
    samples = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float64) / supersample + 0.5 / supersample
    image = np.full(len(samples), skin_grey)
    iris = gaze_image.iris_radius(model)
    for side in ("L", "R"):
        opening = Path(points[list(gaze_image.LID_CONTOURS[side])]).contains_points(samples)
        image[opening] = 0.95
        image[opening & Path(outline(model, frame, side, iris)).contains_points(samples)] = iris_grey
        image[opening & Path(outline(model, frame, side, gaze_image.PUPIL_RADIUS)).contains_points(samples)] = pupil_grey
    return image.reshape(SIZE[1], supersample, SIZE[0], supersample).mean((1, 3))


def eye_image(model, frame, image):
    vertices = LinearHead(model).face(np.zeros((1, model.num_identity)), frame.expression[None])[0]
    return face_image.prepare_face(image, projected_vertices(model, np.zeros(model.num_identity), frame),
                                    face_image.frontal_iod(vertices, frame), high_pass=gaze_image.HIGH_PASS)


GAZES = [(0.0, 0.0), (8.0, -12.0), (-10.0, 6.0), (4.0, 15.0), (-6.0, -8.0), (12.0, 3.0), (-3.0, -16.0), (6.0, 10.0)]
TURNS = [(0, 0, 0), (4, -6, 0), (-3, 5, 2), (2, 8, -3), (-5, -4, 0), (3, 0, 4), (0, 10, 0), (-2, -9, -2)]


@pytest.fixture(scope="module")
def painted(model):
    """(frames, eye images): eight open-eyed frames with their gaze and head turn, and a ninth
    with both eyes shut."""
    frames = [frame_at(model, g, t) for g, t in zip(GAZES, TURNS)] + [frame_at(model, (5.0, 5.0), blink=1.0)]
    return frames, [eye_image(model, f, paint(model, f)) for f in frames]


def test_the_iris_radius_is_the_head_models_ring(model):
    centre, ring = model.eye_points[0], model.eye_points[1]  # the iris ring's angle off the eye's axis, as a tangent
    tangent = np.linalg.norm(np.cross(centre, ring)) / (centre @ ring)
    assert gaze_image.iris_radius(model) == pytest.approx(tangent, rel=1e-6)
    assert 0.5 < gaze_image.iris_radius(model) < 0.6


def test_each_pixel_lands_on_the_eyeball_where_the_iris_centre_says(model, painted):
    """The pixel nearest the projected iris centre, turned back by the true gaze, lies on the
    eyeball's axis (gnomonic 0, 0) and its neighbours within a pixel's angle."""
    frames, faces = painted
    frame, face = frames[1], faces[1]
    points = projected_vertices(model, np.zeros(model.num_identity), frame)
    for e, side in enumerate(("L", "R")):
        view = gaze_image.eye_view(model, np.zeros(model.num_identity), frame, face, points, side)
        assert view.count >= gaze_image.MIN_PIXELS
        coords, usable = view.coordinates(model, frame.gaze[2 * e:2 * e + 2][None])
        region = view_pixels(model, frame, face, view, side)  # the region pixels the view holds
        places = np.linalg.norm(region - face.to_region(points[IRIS[side][0]]), axis=1)
        nearest = np.nanargmin(places)  # (a ray that misses the eyeball has no place)
        assert places[nearest] < 0.75 and usable[0, nearest]
        # a region pixel is ~0.4 mm on this face, ~2 degrees of an 11.8 mm eyeball: gnomonic ~0.04
        assert np.linalg.norm(coords[0, nearest]) < 0.05, coords[0, nearest]
        # a pixel one iris radius to the side lands near the iris ring
        ring = np.nanargmin(np.linalg.norm(region - face.to_region(points[IRIS[side][1]]), axis=1))
        assert np.linalg.norm(coords[0, ring]) == pytest.approx(gaze_image.iris_radius(model), abs=0.06)


def view_pixels(model, frame, face, view, side):
    """The region pixels ``view`` holds, in its order (its hits projected back)."""
    e = ("L", "R").index(side)
    centre = model.eye_centre_mean[e]
    radius = np.linalg.norm(model.eye_points[0])
    camera = (view.hits * radius + centre) @ frame.rotation_matrix().T + frame.translation
    image = (camera @ frame.intrinsics().T)[:, :2] / camera[:, 2:3]
    return face.to_region(image)


def test_the_iris_regions_find_each_painted_gaze(model, painted):
    """Both eyes of the eight open-eyed frames, read alone (no texture, no other frame)."""
    frames, faces = painted
    errors = []
    for frame, face in zip(frames[:8], faces[:8]):
        points = projected_vertices(model, np.zeros(model.num_identity), frame)
        for e, side in enumerate(("L", "R")):
            view = gaze_image.eye_view(model, np.zeros(model.num_identity), frame, face, points, side)
            found, explained = gaze_image.template_gaze(model, view, gaze_image.iris_radius(model))
            assert explained > 0.5  # painted: flat regions, but for the lids' edges and the high-pass
            errors.append(found - frame.gaze[2 * e:2 * e + 2])
    errors = np.degrees(np.abs(errors))  # [16, 2] (X up/down, Z sideways)
    assert errors.mean() < 1.0 and errors.max() < 3.5, errors


def test_read_gaze_reads_open_eyes_and_leaves_shut_ones_straight_ahead(model, painted):
    """The frames handed over with their gaze misread (the reading does not start from it)."""
    frames, faces = painted
    misread = [dataclasses.replace(f, gaze=f.gaze + np.radians(np.tile([6.0, -7.0], 2))) for f in frames]
    points = [projected_vertices(model, np.zeros(model.num_identity), f) for f in misread]
    calls = []
    gaze, pixels, note = gaze_image.read_gaze(model, np.zeros(model.num_identity), misread, faces, points,
                                              progress=lambda done, total: calls.append((done, total)))
    truth = np.stack([f.gaze for f in frames])
    errors = np.degrees(np.abs(gaze[:8] - truth[:8]))
    assert errors.mean() < 1.0 and errors.max() < 2.5, errors
    assert np.array_equal(gaze[:, :2], gaze[:, 2:])  # both eyes look one way
    assert np.array_equal(gaze[8], np.zeros(4)) and pixels[8].sum() < gaze_image.FRAME_PIXELS
    assert (pixels[:8] >= gaze_image.MIN_PIXELS).all()
    total = (1 + gaze_image.TEXTURE_ROUNDS) * len(frames)
    assert calls == [(done, total) for done in range(1, total + 1)]
    assert "8 of 9 frame(s) read" in note and "1 with the eyes (nearly) closed look straight ahead" in note


def test_the_sideways_reading_fades_to_straight_ahead_as_the_head_turns_away(model):
    turns = [0.0, 20.0, -20.0, 37.5, -37.5, 45.0, 60.0, -60.0]
    frames = [frame_at(model, (0.0, 0.0), (0.0, t, 0.0)) for t in turns]
    centre = model.eye_centre_mean.mean(0)
    # (seen from the eyeballs' centres, behind the irises frame_at puts on the optical axis: ~1 degree less)
    measured = np.array([f.turn_deg(centre) for f in frames])
    assert measured == pytest.approx(turns, abs=1.2) and np.sign(measured[[1, 2]]).tolist() == [1, -1]
    weights = gaze_image.sideways_weights(model, frames)
    assert weights == pytest.approx(np.clip((45.0 - np.abs(measured)) / 15.0, 0.0, 1.0))
    assert weights[[0, 1, 2, 6, 7]].tolist() == [1, 1, 1, 0, 0] and (0.45 < weights[[3, 4]]).all() and (weights[[3, 4]] < 0.6).all()


def test_a_turned_head_keeps_its_vertical_gaze_and_fades_its_sideways_one(model):
    """Painted eyes looking (6 up, 12 sideways) in a head turned 0, 40 and 60 degrees (the
    painting hides no eye behind the nose: every eye is read)."""
    frames = [frame_at(model, (6.0, 12.0), (0.0, t, 0.0)) for t in (0.0, 40.0, 60.0, -40.0)]
    faces = [eye_image(model, f, paint(model, f)) for f in frames]
    points = [projected_vertices(model, np.zeros(model.num_identity), f) for f in frames]
    gaze, pixels, note = gaze_image.read_gaze(model, np.zeros(model.num_identity), frames, faces, points)
    assert (pixels.sum(1) >= gaze_image.FRAME_PIXELS).all()
    up, sideways = np.degrees(gaze[:, 0]), np.degrees(gaze[:, 1])
    assert up == pytest.approx(6.0, abs=2.5)
    assert sideways[0] == pytest.approx(12.0, abs=2.5) and sideways[2] == 0.0
    assert sideways[[1, 3]] == pytest.approx(12.0 * (45.0 - 40.0) / 15.0, abs=1.5)  # a third of it
    assert "3 turned more than 30 deg from the camera: their sideways gaze fades to straight ahead (1 past 45 deg)" in note


def test_the_eye_band_holds_what_the_eye_views_read(model, painted):
    """The refinement keeps only the band around the eyes (eye_band): each eye's view of it
    holds the same pixels and values as of the whole face region, and it is far smaller."""
    frames, faces = painted
    frame, face = frames[3], faces[3]
    points = projected_vertices(model, np.zeros(model.num_identity), frame)
    band = gaze_image.eye_band(face, points)
    assert band.values.size < 0.4 * face.values.size
    for side in ("L", "R"):
        whole = gaze_image.eye_view(model, np.zeros(model.num_identity), frame, face, points, side)
        cut = gaze_image.eye_view(model, np.zeros(model.num_identity), frame, band, points, side)
        assert cut.count == whole.count
        np.testing.assert_allclose(cut.values, whole.values, atol=1e-9)
        np.testing.assert_allclose(cut.hits, whole.hits, atol=1e-9)


def test_the_eyes_are_combined_by_the_pixels_each_read():
    left, right = np.radians([[10.0, 0.0], [4.0, 4.0], [8.0, 8.0], [1.0, 1.0]]), np.radians([[0.0, 20.0]] * 4)
    pixels = [[300, 100], [0, 200], [70, 0], [0, 0]]  # both eyes; the right alone; too few; none
    gaze = np.degrees(gaze_image.combine_eyes([left, right], pixels))
    np.testing.assert_allclose(gaze[0], [7.5, 5.0, 7.5, 5.0])
    np.testing.assert_allclose(gaze[1], [0.0, 20.0, 0.0, 20.0])
    assert 70 < gaze_image.FRAME_PIXELS and np.array_equal(gaze[2:], np.zeros((2, 4)))


def test_in_a_video_closed_eyes_take_their_neighbours_gaze_and_each_clip_is_smoothed(monkeypatch):
    gaze = np.array([[2.0], [0.0], [6.0], [6.0], [9.0], [9.0], [1.0]])
    read = [True, False, True, True, False, False, True]
    clips = [0, 0, 0, 0, 1, 1, 2]  # clip 1 has no frame read: it keeps its values
    monkeypatch.setattr(gaze_image, "VIDEO_SMOOTH", 0.0)
    np.testing.assert_allclose(gaze_image.smooth_clips(gaze, read, clips)[:, 0], [2, 4, 6, 6, 9, 9, 1])
    monkeypatch.setattr(gaze_image, "VIDEO_SMOOTH", 1.0)
    smoothed = gaze_image.smooth_clips(gaze, read, clips)[:, 0]
    assert 2.0 < smoothed[0] < smoothed[1] < smoothed[2] < 6.0  # smoothed within clip 0...
    np.testing.assert_allclose(smoothed[4:], [9, 9, 1])  # ...not across its end


def test_eyes_that_cannot_be_read_leave_a_photo_its_landmark_gaze(model, painted):
    """Frame 1 painted white all over (no iris, no lids to see: its regions explain nothing;
    smooth noise, though, they explain up to ~30% of: MIN_EXPLAINED stops only the flattest)
    and frame 2 wall-eyed (each eye 20 degrees out, 40 apart): neither is read, and each
    photo keeps the gaze it came with; in a video they take their neighbours'."""
    frames, faces = painted
    blank = paint(model, frames[1], supersample=2, iris_grey=0.95, pupil_grey=0.95, skin_grey=0.95)
    wall_eyed = dataclasses.replace(frames[2], gaze=np.radians([0.0, 20.0, 0.0, -20.0]))
    images = [faces[0], eye_image(model, frames[1], blank), eye_image(model, wall_eyed, paint(model, wall_eyed, 2)),
              faces[3]]
    came_with = [dataclasses.replace(f, gaze=np.radians([3.0, -4.0, 5.0, -6.0])) for f in frames[:4]]
    points = [projected_vertices(model, np.zeros(model.num_identity), f) for f in came_with]
    gaze, pixels, note = gaze_image.read_gaze(model, np.zeros(model.num_identity), came_with, images, points)
    assert np.array_equal(pixels[1:3], np.zeros((2, 2))) and (pixels[[0, 3]] > 0).all()
    np.testing.assert_array_equal(gaze[1:3], [came_with[1].gaze, came_with[2].gaze])
    assert "2 whose irises did not stand out keep the landmark fit's gaze" in note
    video, _, _ = gaze_image.read_gaze(model, np.zeros(model.num_identity), came_with, images, points, clips=[0] * 4)
    np.testing.assert_allclose(video[1:3], [(2 * video[0] + video[3]) / 3, (video[0] + 2 * video[3]) / 3],
                               atol=np.radians(1.5))  # between its neighbours (then smoothed)
    view = gaze_image.eye_view(model, np.zeros(model.num_identity), frames[1], images[1], points[1], "L")
    assert gaze_image.template_gaze(model, view, gaze_image.iris_radius(model))[1] < gaze_image.MIN_EXPLAINED


def test_a_check_that_raises_stops_the_gaze_reading(model, painted):
    frames, faces = painted

    class Cancelled(Exception):
        pass

    def check():
        raise Cancelled()

    points = [projected_vertices(model, np.zeros(model.num_identity), f) for f in frames]
    with pytest.raises(Cancelled):
        gaze_image.read_gaze(model, np.zeros(model.num_identity), frames, faces, points, check=check)


def test_the_workflow_reads_misread_gazes_and_sets_the_eyelook_keys(model):
    """refine_poses with the gaze on (after a pose round on these plain faces): gazes misread
    by up to 8 degrees come back to within 3 (on average to under 0.4 of the misreading),
    and the eyeLook keys follow them; with ``photometric_gaze=False`` they stay as read."""
    frames = [frame_at(model, g, t) for g, t in zip(GAZES, TURNS)]
    images = [paint(model, f, supersample=2) for f in frames]
    misread = np.radians(np.random.default_rng(4).uniform(-8.0, 8.0, (len(frames), 2)))
    fit = ActorFit(np.zeros(model.num_identity),
                   [dataclasses.replace(f, gaze=f.gaze + np.tile(m, 2)) for f, m in zip(frames, misread)],
                   model.identity_names, model.expression_names)
    settings = FitSettings(photometric_rounds=1, photometric_jaw_rounds=0)
    refined = photometric.refine_poses(fit, lambda i: images[i], model, settings)
    truth = np.stack([f.gaze for f in frames])
    gaze = np.stack([f.gaze for f in refined.frames])
    errors, before = np.degrees(np.abs(gaze - truth)), np.degrees(np.abs(misread)).mean()
    assert errors.mean() < 0.4 * before and errors.max() < 3.0, (errors, before)
    head = LinearHead(model)
    looks = head.look_values(gaze)[0]
    for frame, look in zip(refined.frames, looks):
        np.testing.assert_array_equal(frame.expression[head.look_columns], look[head.look_columns])
    assert any(n.startswith("gaze from the image: 8 of 8 frame(s) read") for n in refined.notes)
    kept = photometric.refine_poses(fit, lambda i: images[i], model, dataclasses.replace(settings, photometric_gaze=False))
    assert np.array_equal(np.stack([f.gaze for f in kept.frames]), np.stack([f.gaze for f in fit.frames]))
    assert not any(n.startswith("gaze from the image") for n in kept.notes)
