"""Face landmarks on the user's footage: MediaPipe's face mesh, 478 points in pixels.

MediaPipe 0.10.21's legacy face mesh (``mediapipe.solutions.face_mesh``, its models inside
the wheel) with ``refine_landmarks=True``: 468 mesh points plus 10 iris points (468-472
the subject's right iris, centre first; 473-477 the left). MediaPipe is imported on first
use (``requirements/actor.txt``). One :class:`LandmarkDetector` is meant to be reused for
every frame of one input: ``video=False`` treats each image on its own (photos),
``video=True`` lets MediaPipe track the face from the previous frame (consecutive video
frames only; call ``reset()`` between clips).

Per image a :class:`Detection`: ``face`` is a :class:`Face` or None, with ``reason`` saying
why (no face; the face too small). With several faces the largest (landmark box area) is
kept and a warning says so. A face is rejected when its landmark box is smaller than
``min_face_px`` (default 64) on its LONGER side: such a face has too few pixels for the
fit (inter-ocular distance then about 25 px).

``mirror=True`` also runs MediaPipe on the left-right mirrored image and averages the two
point sets (the mirrored one flipped back, each point renamed to its mirror partner:
:func:`mirror_order`). MediaPipe's errors are not symmetric, so half of each cancels; on the
synthetic actor's 64 held-out photos the fitted landmarks moved from 3.1 to 2.9% of the
inter-ocular distance from the truth and the head rotation error from 3.4 to 3.1 degrees
(docs/actor.md). It costs a second detection per frame. The actor workflow detects with it.

``views=N`` (photo mode only) also detects on N - 1 slightly turned and scaled copies of
the image (:data:`VIEWS`: the image turned by 8 degrees either way and scaled by 0.88 or
1.12 about the face's centre), maps each copy's points back and averages them all (each
copy mirrored too when ``mirror``). Part of MediaPipe's error changes with the face's
place, size and tilt in its input and averages out: on the synthetic actor with 5 views,
jawOpen r 0.912 -> 0.932 on the held-out photos, 0.936 -> 0.945 on the training frames
(docs/actor.md, "Several views"). Each view costs a detection (two with ``mirror``).

Measured on a 2-core CPU, 512 x 512 frames (the astronaut photo): 4.7 ms per frame with
``video=False``; ``video=True`` 3.0 ms with ``max_faces=1`` but 5.0 ms with ``max_faces=2``
(MediaPipe keeps running its face detector while it tracks fewer faces than it may find).
Tracking is not more precise: on a translated sequence the landmarks moved with the image
to 0.35 px (mean) frame by frame, 0.48 px when tracking.
"""

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

try:
    from ..contract.errors import NeuralFaceError
except ImportError:  # before the contract package existed
    from ..errors import NeuralFaceError  # type: ignore[no-redef]

from .eye_closure import eye_cues
from .footage import INSTALL_HINT

NUM_LANDMARKS = 478
IRIS_CENTRES = (468, 473)  # the subject's right and left iris centres
MIN_FACE_PX = 64  # landmark box, longer side, pixels
# the views of ``views=N``, first N used: (in-plane turn, degrees counter-clockwise on screen;
# scale) about the face's centre; the first is the image itself
VIEWS = ((0.0, 1.0), (-8.0, 0.88), (8.0, 1.12), (8.0, 0.88), (-8.0, 1.12), (0.0, 0.88), (0.0, 1.12), (-8.0, 1.0), (8.0, 1.0))


@lru_cache(maxsize=1)
def mirror_order():
    """int [478]: for each landmark, the index of its left-right mirror partner (points on the
    centre line map to themselves; the irises swap), read off the bundled head's mean shape,
    which is symmetric as MediaPipe's canonical face is."""
    from .head_model import load_head_model

    model = load_head_model()
    rest = model.landmarks(np.zeros(model.num_identity), np.zeros(model.num_expression))
    mirrored = rest * np.array([-1.0, 1.0, 1.0])  # the head frame's x is the head's left-right axis
    distance = np.linalg.norm(rest[:, None] - mirrored[None], axis=2)
    order = distance.argmin(axis=1)
    if distance.min(axis=1).max() > 1e-6 or not np.array_equal(order[order], np.arange(len(order))):
        raise NeuralFaceError("the head model's landmarks are not left-right symmetric: no mirror order")
    return order


def mirror_points(points, width):
    """Points [478, 2] found on an image mirrored left-right (``width`` pixels wide), as
    points of the unmirrored image: x -> width - x, each point renamed to its partner."""
    out = np.array(points, dtype=np.float64)
    out[:, 0] = width - out[:, 0]
    return out[mirror_order()]


def import_face_mesh():
    """``mediapipe.solutions.face_mesh``, or a :class:`NeuralFaceError` that says how to install it."""
    try:
        import mediapipe

        return mediapipe.solutions.face_mesh
    except (ImportError, AttributeError) as error:
        raise NeuralFaceError(
            f"face landmarks need MediaPipe 0.10.21 with its legacy face mesh, which this Python cannot load "
            f"({type(error).__name__}: {error}); {INSTALL_HINT}"
        ) from None


@dataclass(frozen=True, eq=False)
class Face:
    """One face's landmarks in the image's pixels.

    ``points``: float64 [478, 2], (x right, y down) = MediaPipe's normalised coordinates
    times the image width/height (0 is the image's left/top edge, W/H its right/bottom).
    ``depth``: float64 [478], MediaPipe's relative z times the image width (pixels, roughly
    the scale of x): smaller is nearer the camera, 0 near the head's centre.
    ``box``: (x0, y0, x1, y1), pixels, the bounding box of ``points``.
    """

    points: np.ndarray
    depth: np.ndarray
    box: tuple
    eye_cues: np.ndarray = None  # [2] float64: eye_closure.eye_cues of the image (set by LandmarkDetector.detect)

    @property
    def box_size(self):
        """(width, height) of ``box`` in pixels."""
        return (self.box[2] - self.box[0], self.box[3] - self.box[1])

    @property
    def area(self):
        width, height = self.box_size
        return width * height

    @property
    def interocular(self):
        """Distance between the two iris centres, pixels."""
        right, left = IRIS_CENTRES
        return float(np.linalg.norm(self.points[left] - self.points[right]))


@dataclass(frozen=True, eq=False)
class Detection:
    """The result for one image.

    ``face``: the kept :class:`Face` or None. ``reason``: why ``face`` is None (else None).
    ``faces_found``: how many faces MediaPipe returned. ``rejected``: the largest face when
    it was rejected as too small (else None). ``warnings``: tuple of messages.
    ``image_size``: (width, height) in pixels.
    """

    face: Face | None
    reason: str | None
    faces_found: int
    image_size: tuple
    rejected: Face | None = None
    warnings: tuple = ()


class LandmarkDetector:
    """A reusable MediaPipe face mesh (refined: 478 points).

    ``video``: track across consecutive frames (MediaPipe's ``static_image_mode=False``).
    ``max_faces``: faces MediaPipe looks for (2 lets a second face be noticed and warned about).
    ``min_face_px``: faces whose landmark box has a longer side below this are rejected.
    ``mirror``: also detect on the mirrored image and average (module docstring).
    ``views``: detect on this many views of the image (:data:`VIEWS`) and average; photo mode only.
    """

    def __init__(
        self, *, video=False, max_faces=2, min_face_px=MIN_FACE_PX, min_detection_confidence=0.5, min_tracking_confidence=0.5,
        mirror=False, views=1,
    ):
        if isinstance(max_faces, bool) or not isinstance(max_faces, int) or max_faces < 1:
            raise NeuralFaceError(f"max_faces must be a whole number >= 1, got {max_faces!r}")
        if isinstance(views, bool) or not isinstance(views, int) or not 1 <= views <= len(VIEWS):
            raise NeuralFaceError(f"views must be a whole number from 1 to {len(VIEWS)}, got {views!r}")
        if views > 1 and video:
            raise NeuralFaceError("views > 1 needs photo mode (video=False): a tracked face cannot jump between views")
        self.views = views
        face_mesh = import_face_mesh()
        self.video = bool(video)
        self.min_face_px = float(min_face_px)
        options = dict(static_image_mode=not self.video, max_num_faces=max_faces, refine_landmarks=True,
                       min_detection_confidence=min_detection_confidence, min_tracking_confidence=min_tracking_confidence)
        self._mesh = face_mesh.FaceMesh(**options)
        # with video=True the mirrored images get their own mesh (each tracks its own sequence);
        # photos share one (a second graph made each detection 2.7x, not 2x, as slow)
        self._mirrored = (face_mesh.FaceMesh(**options) if self.video else self._mesh) if mirror else None
        if mirror:
            mirror_order()  # fail here, not on the first frame

    def detect(self, image, *, label="image"):
        """Landmarks on ``image``, RGB uint8 [H, W, 3]; ``label`` names it in messages."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            shape = getattr(image, "shape", None)
            dtype = getattr(image, "dtype", type(image).__name__)
            raise NeuralFaceError(f"{label}: landmark detection needs an RGB uint8 array [H, W, 3], got {dtype} {shape}")
        height, width = image.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(image))
        faces = [_face(found, width, height) for found in (result.multi_face_landmarks or [])]
        size = (width, height)
        if not faces:
            return Detection(None, f"{label}: no face found", 0, size)
        faces.sort(key=lambda face: face.area, reverse=True)
        largest, warnings = faces[0], []
        if self._mirrored is not None:
            largest = self._average_with_mirror(image, largest)
        if len(faces) > 1:
            x0, y0, x1, y1 = largest.box
            kept = f"{x1 - x0:.0f}x{y1 - y0:.0f} px at x {x0:.0f}, y {y0:.0f}"
            warnings.append(f"{label}: {len(faces)} faces found; kept the largest ({kept}), ignored the rest")
        box_width, box_height = largest.box_size
        if max(box_width, box_height) < self.min_face_px:
            reason = (
                f"{label}: face too small: its landmark box is {box_width:.0f}x{box_height:.0f} px "
                f"(inter-ocular {largest.interocular:.0f} px); "
                f"the fit needs at least {self.min_face_px:.0f} px on the box's longer side"
            )
            return Detection(None, reason, len(faces), size, rejected=largest, warnings=tuple(warnings))
        cues = eye_cues(image, largest.points)  # read around the image's own points (their gates were set so)
        if self.views > 1:  # (after the size check: a refused face costs no further detections)
            largest = self._average_views(image, largest)
        largest = dataclasses.replace(largest, eye_cues=cues)
        return Detection(largest, None, len(faces), size, warnings=tuple(warnings))

    def _average_with_mirror(self, image, face):
        """``face`` averaged with the same face found on the mirrored image (``face`` itself
        when the mirrored image has no face within half an inter-ocular distance of it)."""
        height, width = image.shape[:2]
        result = self._mirrored.process(np.ascontiguousarray(image[:, ::-1]))
        candidates = [_face(found, width, height) for found in (result.multi_face_landmarks or [])]
        best, best_distance = None, 0.5 * max(face.interocular, 1.0)
        for candidate in candidates:
            points = mirror_points(candidate.points, width)
            distance = float(np.median(np.linalg.norm(points - face.points, axis=1)))
            if distance < best_distance:
                best, best_distance = (points, candidate.depth[mirror_order()]), distance
        if best is None:
            return face
        points = (face.points + best[0]) / 2.0
        return Face(points=points, depth=(face.depth + best[1]) / 2.0, box=_box(points))

    def _average_views(self, image, face):
        """``face`` averaged with the same face found on views 2.. of :data:`VIEWS` (each
        mirror-averaged when ``mirror``); a view where it is not found is left out."""
        height, width = image.shape[:2]
        centre = np.array([(face.box[0] + face.box[2]) / 2.0, (face.box[1] + face.box[3]) / 2.0])
        points, depths = [face.points], [face.depth]
        for turn, scale in VIEWS[1 : self.views]:
            forward = view_transform(turn, scale, centre)  # [2, 3]: a point of the image -> the view
            view = warp_to_view(image, forward)
            result = self._mesh.process(np.ascontiguousarray(view))
            inverse = np.linalg.inv(forward[:, :2])
            expected = face.points @ forward[:, :2].T + forward[:, 2]
            best, best_distance = None, 0.5 * max(face.interocular, 1.0) * scale
            for found in result.multi_face_landmarks or []:
                candidate = _face(found, width, height)
                distance = float(np.median(np.linalg.norm(candidate.points - expected, axis=1)))
                if distance < best_distance:
                    best, best_distance = candidate, distance
            if best is None:
                continue
            if self._mirrored is not None:
                best = self._average_with_mirror(view, best)
            points.append((best.points - forward[:, 2]) @ inverse.T)
            depths.append(best.depth / scale)
        if len(points) == 1:
            return face
        averaged = np.mean(points, axis=0)
        return Face(points=averaged, depth=np.mean(depths, axis=0), box=_box(averaged))

    def reset(self):
        """Forget the tracked face (``video=True``): call before an unrelated clip."""
        self._mesh.reset()
        if self._mirrored is not None and self._mirrored is not self._mesh:
            self._mirrored.reset()

    def close(self):
        self._mesh.close()
        if self._mirrored is not None and self._mirrored is not self._mesh:
            self._mirrored.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def view_transform(turn_deg, scale, centre):
    """[2, 3] similarity taking image points (pixels, :class:`Face` convention) to a view
    turned ``turn_deg`` degrees (counter-clockwise on screen) and scaled by ``scale`` about ``centre``."""
    angle = np.radians(turn_deg)
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = scale * np.array([[cos, sin], [-sin, cos]])  # y points down: counter-clockwise on screen
    return np.concatenate([rotation, (np.asarray(centre) - rotation @ centre)[:, None]], axis=1)


def warp_to_view(image, forward):
    """``image`` [H, W, C] resampled (bilinear, edges repeated) so that its point p appears at
    ``forward[:, :2] @ p + forward[:, 2]`` (:func:`view_transform`); the same size."""
    import cv2  # (OpenCV comes with MediaPipe: requirements/actor.txt)

    to_cv = np.array(forward, dtype=np.float64)  # OpenCV puts pixel centres at integers, we at +0.5
    to_cv[:, 2] += to_cv[:, :2] @ (0.5, 0.5) - 0.5
    height, width = image.shape[:2]
    return cv2.warpAffine(image, to_cv, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _face(landmarks, width, height):
    """MediaPipe's NormalizedLandmarkList -> :class:`Face` in pixels."""
    values = np.array([(p.x, p.y, p.z) for p in landmarks.landmark], dtype=np.float64)
    if values.shape != (NUM_LANDMARKS, 3):
        raise NeuralFaceError(
            f"MediaPipe returned {values.shape[0]} landmarks, expected {NUM_LANDMARKS} (refine_landmarks=True)"
        )
    points = values[:, :2] * (width, height)
    return Face(points=points, depth=values[:, 2] * width, box=_box(points))


def _box(points):
    """(x0, y0, x1, y1) bounding box of points [N, 2]."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def detect_frames(frames, *, video=False, **options):
    """(frame, :class:`Detection`) for every :class:`~.footage.Frame` of ``frames``, with
    one detector; ``video=True`` for consecutive video frames (stride 1 tracks best).
    ``options`` go to :class:`LandmarkDetector`."""
    with LandmarkDetector(video=video, **options) as detector:
        for frame in frames:
            yield frame, detector.detect(frame.image, label=frame.label)
