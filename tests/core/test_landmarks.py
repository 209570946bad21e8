"""neural_core.actor.landmarks: MediaPipe's refined face mesh in pixels, on real photos.

Needs MediaPipe 0.10.21 (requirements/actor.txt). Nothing here skips: without it the
detector fixture fails with the install command.
"""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from neural_core.actor.photos import load_photo
from neural_core.actor.video import Video
from neural_core.actor.landmarks import NUM_LANDMARKS, LandmarkDetector, detect_frames
from tests.conftest import ROOT
from tests.core.test_footage import PHOTOS, moving_face, write_video

try:
    from neural_core.contract.errors import NeuralFaceError
except ImportError:  # before the contract package existed
    from neural_core.errors import NeuralFaceError


@pytest.fixture(scope="module")
def detector():
    with LandmarkDetector() as detector:  # without MediaPipe: NeuralFaceError naming requirements/actor.txt
        yield detector


def photo(name, scale=1.0):
    image = Image.open(PHOTOS / name).convert("RGB")
    if scale != 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    return image


@pytest.mark.parametrize("name,centre", [("astronaut.jpg", (225, 125)), ("grace_hopper.jpg", (265, 235))])
def test_landmarks_on_the_test_photos(detector, name, centre):
    frame = load_photo(PHOTOS / name)
    found = detector.detect(frame.image, label=frame.label)
    assert found.reason is None and found.faces_found == 1 and found.warnings == ()
    face = found.face
    assert face.points.shape == (NUM_LANDMARKS, 2) and face.points.dtype == np.float64
    assert face.depth.shape == (NUM_LANDMARKS,) and face.depth.dtype == np.float64
    assert (face.points >= 0).all() and (face.points[:, 0] <= frame.width).all() and (face.points[:, 1] <= frame.height).all()
    x0, y0, x1, y1 = face.box
    assert abs((x0 + x1) / 2 - centre[0]) < 25 and abs((y0 + y1) / 2 - centre[1]) < 25
    assert min(face.box_size) > 64 and face.interocular > 30
    right_iris, left_iris = face.points[468], face.points[473]
    assert right_iris[0] < left_iris[0]  # the subject's right eye is on the image's left
    nose_tip, chin, forehead = face.points[1], face.points[152], face.points[10]
    assert forehead[1] < nose_tip[1] < chin[1]  # y runs down
    assert found.image_size == (frame.width, frame.height)
    assert face.eye_cues.shape == (2,) and np.isfinite(face.eye_cues).all()  # both eyes open and in the image


def test_two_faces_keep_the_largest_and_warn(detector):
    astronaut, grace = photo("astronaut.jpg"), photo("grace_hopper.jpg")
    grace = grace.resize((round(grace.width * 360 / grace.height), 360), Image.LANCZOS)
    both = Image.new("RGB", (512 + grace.width, 512))
    both.paste(astronaut, (0, 0))
    both.paste(grace, (512, 76))
    found = detector.detect(np.asarray(both), label="pair.png")
    assert found.faces_found == 2
    assert found.face.box[0] > 512  # Grace Hopper's face is the larger one here
    assert len(found.warnings) == 1 and "pair.png: 2 faces found; kept the largest" in found.warnings[0]


def test_the_largest_face_wins_whatever_order_mediapipe_returns(detector, monkeypatch):
    def mesh(x0, size):
        ring = np.linspace(0, 2 * np.pi, NUM_LANDMARKS, endpoint=False)
        xs, ys = x0 + size * (0.5 + 0.5 * np.cos(ring)), 50 + size * (0.5 + 0.5 * np.sin(ring))
        return SimpleNamespace(landmark=[SimpleNamespace(x=x / 400, y=y / 300, z=0.0) for x, y in zip(xs, ys)])

    result = SimpleNamespace(multi_face_landmarks=[mesh(10, 80), mesh(200, 150), mesh(100, 90)])
    monkeypatch.setattr(detector._mesh, "process", lambda image: result)
    found = detector.detect(np.zeros((300, 400, 3), np.uint8))
    assert found.faces_found == 3 and found.face.box == pytest.approx((200, 50, 350, 200), abs=0.01)
    assert "3 faces found" in found.warnings[0]


def test_tiny_faces_are_rejected_with_a_reason(detector):
    small = photo("astronaut.jpg", scale=0.4)  # the face's landmark box: about 40 px
    found = detector.detect(np.asarray(small), label="small.jpg")
    assert found.face is None and found.faces_found == 1
    assert found.rejected is not None and max(found.rejected.box_size) < 64
    assert found.reason.startswith("small.jpg: face too small: its landmark box is ")
    assert "at least 64 px on the box's longer side" in found.reason


def test_no_face(detector):
    found = detector.detect(np.full((256, 256, 3), 128, np.uint8), label="wall.png")
    assert found.face is None and found.faces_found == 0 and found.reason == "wall.png: no face found"


def test_bad_images_are_refused(detector):
    expected = r"frame 3: landmark detection needs an RGB uint8 array \[H, W, 3\], got float32 \(8, 8, 3\)"
    with pytest.raises(NeuralFaceError, match=expected):
        detector.detect(np.zeros((8, 8, 3), np.float32), label="frame 3")
    with pytest.raises(NeuralFaceError, match="RGB uint8"):
        detector.detect(np.zeros((8, 8), np.uint8))


def test_tracking_a_video_follows_the_face(tmp_path):
    """Tracking mode on a decoded video: every frame has a face, and the landmarks move
    with the picture (each frame is a known crop of the photo)."""
    count, size = 20, 256
    frames = moving_face(count, size=size)
    path = write_video(tmp_path / "actor.mp4", frames, options={"crf": "12"})
    with Video(path) as video:
        results = list(detect_frames(video, video=True))
    assert [frame.index for frame, _ in results] == list(range(count))
    with LandmarkDetector() as still:
        for (frame, found), original in zip(results, frames):
            assert found.face is not None, found.reason
            reference = still.detect(original).face.points  # the same frame before encoding
            assert np.abs(found.face.points - reference).mean() < 1.0, frame.label


def test_missing_mediapipe_names_the_requirements_file():
    script = (
        "import sys\n"
        "sys.modules['mediapipe'] = None  # as if it were not installed\n"
        "from neural_core.actor.landmarks import LandmarkDetector\n"
        "try:\n"
        "    LandmarkDetector()\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("NeuralFaceError face landmarks need MediaPipe 0.10.21")
    assert "requirements/actor.txt" in result.stdout


def test_mirror_order_pairs_the_left_and_right_landmarks():
    from neural_core.actor.landmarks import mirror_order

    order = mirror_order()
    assert np.array_equal(order[order], np.arange(NUM_LANDMARKS)) and not np.array_equal(order, np.arange(NUM_LANDMARKS))
    assert order[33] == 263 and order[1] == 1 and order[152] == 152  # outer eye corners swap; nose tip and chin stay
    assert order[468] == 473 and order[473] == 468  # the iris centres swap


@pytest.mark.parametrize("name", ["astronaut.jpg", "grace_hopper.jpg"])
def test_mirrored_detection_averages_the_image_and_its_mirror(detector, name):
    from neural_core.actor.landmarks import mirror_points

    image = np.asarray(photo(name))
    width = image.shape[1]
    plain = detector.detect(image).face
    with LandmarkDetector(mirror=True) as both:
        averaged = both.detect(image).face
        of_mirror = both.detect(np.ascontiguousarray(image[:, ::-1])).face
    flipped_alone = detector.detect(np.ascontiguousarray(image[:, ::-1])).face
    # the average of the plain detection and the mirror image's detection, flipped back and renamed
    assert np.allclose(averaged.points, (plain.points + mirror_points(flipped_alone.points, width)) / 2, atol=1e-9)
    # so mirroring the input mirrors the result
    assert np.allclose(mirror_points(of_mirror.points, width), averaged.points, atol=1e-9)
    # and a wrong pairing or flip would put it far from the plain detection: it stays within 2% of the IOD
    assert np.median(np.linalg.norm(averaged.points - plain.points, axis=1)) < 0.02 * plain.interocular
    x0, y0, x1, y1 = averaged.box
    assert (x0, y0) == tuple(averaged.points.min(0)) and (x1, y1) == tuple(averaged.points.max(0))


def test_without_a_face_on_the_mirror_image_the_plain_detection_stands(detector):
    image = np.asarray(photo("astronaut.jpg"))
    plain = detector.detect(image).face
    with LandmarkDetector(mirror=True) as both:
        both._mirrored = SimpleNamespace(process=lambda _: SimpleNamespace(multi_face_landmarks=None), close=lambda: None)
        found = both.detect(image)
    assert found.reason is None and np.array_equal(found.face.points, plain.points)


def test_view_transform_turns_and_scales_about_the_centre():
    from neural_core.actor.landmarks import view_transform

    centre = np.array([100.0, 50.0])
    forward = view_transform(90.0, 2.0, centre)
    assert np.allclose(forward[:, :2] @ centre + forward[:, 2], centre)
    # a point right of the centre goes up the screen (y down) at twice the distance: counter-clockwise
    assert np.allclose(forward[:, :2] @ (centre + (10.0, 0.0)) + forward[:, 2], centre + (0.0, -20.0))


def test_a_view_puts_each_point_where_its_transform_says():
    from neural_core.actor.landmarks import view_transform, warp_to_view

    y, x = np.mgrid[0:80, 0:120] + 0.5  # pixel centres
    spot = np.array([40.0, 30.0])
    image = np.exp(-((x - spot[0]) ** 2 + (y - spot[1]) ** 2) / (2 * 3.0**2))
    image = np.repeat((255 * image).astype(np.uint8)[..., None], 3, axis=2)
    forward = view_transform(-8.0, 1.12, np.array([60.0, 40.0]))
    view = warp_to_view(image, forward)[..., 0].astype(np.float64)
    centroid = np.array([(view * x).sum(), (view * y).sum()]) / view.sum()
    assert np.allclose(centroid, forward[:, :2] @ spot + forward[:, 2], atol=0.05)  # a half-pixel slip fails


@pytest.mark.parametrize("options", [dict(views=0), dict(views=10), dict(views=True), dict(views=2, video=True)])
def test_bad_view_counts_are_refused(options):
    with pytest.raises(NeuralFaceError, match="views"):
        LandmarkDetector(**options)


@pytest.mark.parametrize("name", ["astronaut.jpg", "grace_hopper.jpg"])
def test_several_views_average_points_mapped_back_to_the_image(detector, name):
    from neural_core.actor.landmarks import VIEWS

    image = np.asarray(photo(name))
    plain = detector.detect(image).face
    with LandmarkDetector(views=len(VIEWS)) as several:
        averaged = several.detect(image).face
        with LandmarkDetector(views=2) as two:
            second = 2 * two.detect(image).face.points - plain.points  # the second view's points alone
    iod = plain.interocular
    # each view's points come back to where the image's own are (an 8-degree turn left in, or a
    # wrong scale, would put the face's edge ~0.1 IOD away)
    assert np.median(np.linalg.norm(second - plain.points, axis=1)) < 0.02 * iod
    assert np.percentile(np.linalg.norm(second - plain.points, axis=1), 95) < 0.05 * iod
    assert np.median(np.linalg.norm(averaged.points - plain.points, axis=1)) < 0.02 * iod
    assert not np.allclose(averaged.points, plain.points)  # the views did count
    # the eye cues stay the image's own (their gates were set on them)
    assert np.array_equal(averaged.eye_cues, plain.eye_cues)
    assert np.allclose(averaged.depth, plain.depth, atol=0.05 * iod)


def test_a_view_without_the_face_is_left_out(detector):
    image = np.asarray(photo("astronaut.jpg"))
    plain = detector.detect(image).face
    with LandmarkDetector(views=3) as several:
        real = several._mesh
        calls = []

        def process(view):  # the first call is the image itself; the views find no face
            calls.append(view.shape)
            return real.process(view) if len(calls) == 1 else SimpleNamespace(multi_face_landmarks=None)

        several._mesh = SimpleNamespace(process=process, close=real.close)
        found = several.detect(image)
    assert len(calls) == 3 and np.array_equal(found.face.points, plain.points)
