"""The gaze read from the image: each iris found on its eyeball, the head's pose held (issue 14).

MediaPipe places the iris centre 3-3.5 px from the truth on the synthetic actor's 512 px
photos (a quarter of the iris radius), and one degree of gaze moves the iris by only ~0.4 px
there, so the landmark fit's gaze is off by 7-10 degrees against a spread of ~9.5
(docs/actor.md, "The gaze from the image"). The image shows more: the iris is a dark disc
with a darker pupil against the white of the eye.

**Where each pixel of the eye lies on the eyeball.** After the pose and jaw rounds
(:mod:`.photometric`) the fitted head says where the eyeball is: the head model's eye is a
sphere about the eye bone's pivot through the iris points (``HeadModel.eye_points``), carried
by the head. Each image pixel inside the fitted lids' opening (eroded by ``ERODE`` region
pixels: the lid's edge and its shadow are not the eye) casts a ray to that sphere; the hit,
turned back by a candidate gaze, is a direction on the eyeball, written as gnomonic
coordinates about its forward axis (1 = 45 degrees off it).

**The iris as three regions.** On the eyeball the iris is a disc of the angular radius the
head model's iris ring has, the pupil a smaller one inside it, the white around them. Per
eye, the gaze (the eye bone's X and Z angles) under which these three regions, each taking
its own mean, leave the least of the opening's pixels unexplained (and the iris is darker
than the white), over a coarse grid of ``SEARCH_DEG`` either way and a fine one about the
best. No colours are assumed, only that the iris is the darker. The pixels are the frame's
grey image with a gentler high-pass than the pose's (``HIGH_PASS``; the plain grey measured
worse: the shading across a rendered eye and the shadows in its corners).

**Then the actor's own eye.** Flat regions are no person's eye; ``TEXTURE_ROUNDS`` rounds
build the actor's eyeball texture from every frame at its present gaze (each pixel splatted
where it lands on the eyeball) and move each gaze, over a smaller grid, to where its pixels
match that texture best. A texture says nothing about where "straight ahead" is (every gaze
moved together fits it as well), so each round keeps the mean change at zero.

**Both eyes look one way.** Each eye's reading is noisy (a few degrees) and a narrowed or
closed eye says little, so the two readings are combined, weighted by the pixels each eye
shows, and both eyes take that gaze: vergence (a few degrees for near targets) is given up
for half the noise. A frame whose eyes show fewer than ``FRAME_PIXELS`` pixels together (a
blink, a squint) has no gaze to read: it looks straight ahead (the rig's rest), which on the
synthetic actor is nearer its truth than MediaPipe's reading of a closed eye, or this one's
of a narrowed eye. An eye whose best three regions explain less than ``MIN_EXPLAINED`` of
its pixels' variance is not read either (a dark iris with little white beside it, or
catchlights on it: on the synthetic actor such eyes were read ~20 degrees off), nor a
frame whose two eyes are read more than ``MAX_APART_DEG`` apart (the synthetic actor's
eyes always look one way; a real pair converges by a few degrees); a photo whose open eyes
stay unread keeps the landmark fit's gaze. In a video a frame not
read takes the gaze between its clip's neighbours instead, and the gaze is smoothed along
each clip (``VIDEO_SMOOTH``): a blink does not snap the eyes to the front, and each
frame's few degrees of noise do not jitter.

**A head turned away.** The sideways gaze read fades to straight ahead as the head turns
from ``TURN_FADE_DEG[0]`` to ``TURN_FADE_DEG[1]`` away from the camera (the vertical gaze
stays). Turned, the near eye's sideways movement is foreshortened and the fitted eyeball's
depth error (a millimetre or so) shows as a sideways shift; the far eye hides behind the
nose. On the synthetic actor the sideways reading's median error is 2-3.5 degrees facing
the camera, 5 at 30-45 degrees of turn and 11-17 beyond, where straight ahead is off by
the gaze's own spread (~8).
"""

from dataclasses import dataclass

import numpy as np

from . import rotations
from .face_image import sample
from .head_model import BONES, EYE_SIDES

# MediaPipe's lid contour of each eye bone's eye (the subject's right eye is eye.R, the
# image's left): lower lid from the outer corner, then the upper lid back
LID_CONTOURS = {"R": (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
                "L": (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)}
ERODE = 1.5  # region px: pixels nearer the lid contour than this are left out
BAND_MARGIN = 20  # region px kept around the lids (eye_band): the pose rounds move a face by a few
HIGH_PASS = 1.5  # region px (face_image.IOD_PIXELS between the eye corners): the eye image's high-pass sigma
MIN_PIXELS = 60  # an eye showing fewer pixels of its opening (region pixels) is not read
FRAME_PIXELS = 120  # a frame whose eyes show fewer together looks straight ahead (a narrowed eye misleads)
PUPIL_RADIUS = 0.17  # the pupil's radius in gnomonic units (the iris's comes from the head model: ~0.55)
MIN_REGION = 3  # pixels the sclera and the iris must each show for a candidate gaze to count
MIN_EXPLAINED = 0.15  # an eye whose best regions explain less of its pixels' variance is not read
MAX_APART_DEG = 25.0  # two eyes read further apart than this (either angle) leave the frame unread
SEARCH_DEG = 24.0  # the regions' coarse grid spans this either way (the rig's eyeLook keys end at 25-30)
COARSE_STEP_DEG = 2.0
FINE_DEG, FINE_STEP_DEG = 2.0, 0.25  # the fine grid about the best coarse gaze
TEXTURE_ROUNDS = 2  # rounds against the actor's own eyeball texture (0: the regions' reading)
TEXTURE_SEARCH_DEG, TEXTURE_STEP_DEG = 12.0, 1.5  # their coarse grid (then the fine one)
TEXTURE_SIZE = 48  # texels per side of the eyeball texture
TEXTURE_SPAN = 1.0  # the texture covers gnomonic coordinates within this (45 degrees off the axis)
MIN_FORWARD = 0.3  # a hit further round the eyeball than this (cosine to its axis) is not used
MISSING_COST = 1.5  # the cost of a pixel whose ray misses the eyeball or lands on an unseen texel
ROBUST = 0.5  # soft-L1 scale of the texture residual
VIDEO_SMOOTH = 1.0  # video: the Gaussian (frames) the gaze is smoothed with along each clip
TURN_FADE_DEG = (30.0, 45.0)  # head turns between which the sideways gaze read fades to straight ahead


def grid(half_width_deg, step_deg):
    """[G, 2] (X, Z) offsets in radians on a square grid."""
    steps = np.radians(np.arange(-half_width_deg, half_width_deg + 1e-6, step_deg))
    return np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2)


def eye_turns(model, side, angles):
    """[G, 3, 3] head-frame rotations of the ``side`` eye ("L" / "R") for gaze angles
    [G, 2] (the eye bone's X, Z Euler angles in radians), as :meth:`LinearHead.iris` turns it."""
    rest = model.bone_rest[BONES.index(f"eye.{side}")]
    angles = np.asarray(angles, dtype=np.float64)
    euler = np.stack([angles[:, 0], np.zeros(len(angles)), angles[:, 1]], -1)
    return rest @ rotations.euler_xyz(euler) @ rest.T


def iris_radius(model):
    """The iris ring's angular radius in gnomonic units (tan of its angle off the eye's axis)."""
    points = np.asarray(model.eye_points, dtype=np.float64)
    axis = points[0] / np.linalg.norm(points[0])
    along = points[1:] @ axis
    across = np.linalg.norm(points[1:] - along[:, None] * axis, axis=1)
    return float(np.mean(across / along))


def _edge_distance(points, polygon):
    """[N] each point's distance to the closed polygon [M, 2]'s edges."""
    start, end = polygon, np.roll(polygon, -1, axis=0)
    edge = end - start  # [M, 2]
    t = np.clip(np.einsum("nmi,mi->nm", points[:, None] - start, edge) / np.maximum((edge * edge).sum(1), 1e-12), 0, 1)
    nearest = start + t[..., None] * edge
    return np.linalg.norm(points[:, None] - nearest, axis=2).min(1)


@dataclass
class EyeView:
    """One frame's eye: the opening's pixels and where their rays meet the eyeball.

    values [N] the eye image at the pixels; hits [N, 3] the rays' first points on the
    eyeball sphere in the head frame, relative to its centre, in units of its radius (rows of
    NaN where a ray misses it)."""

    side: str
    values: np.ndarray
    hits: np.ndarray

    @property
    def count(self):
        return len(self.values)

    def coordinates(self, model, angles):
        """(gnomonic coordinates [G, N, 2], usable [G, N]) of the pixels on the eyeball turned
        by each gaze in ``angles`` [G, 2]."""
        local = np.einsum("gji,nj->gni", eye_turns(model, self.side, angles), self.hits)  # turned back
        axis = np.asarray(model.eye_points[0], dtype=np.float64) / np.linalg.norm(model.eye_points[0])
        across_x = np.array([1.0, 0.0, 0.0]) - axis[0] * axis
        across_x /= np.linalg.norm(across_x)
        across_z = np.cross(axis, across_x)
        forward = local @ axis
        safe = np.where(np.isfinite(forward) & (forward > MIN_FORWARD), forward, 1.0)
        coords = np.stack([local @ across_x, local @ across_z], -1) / safe[..., None]
        usable = np.isfinite(forward) & (forward > MIN_FORWARD)
        return np.where(usable[..., None], coords, 0.0), usable


def eye_band(face, pixels, margin=BAND_MARGIN):
    """``face`` (:class:`~.face_image.FaceImage`) cut to the band around both eyes' lid
    contours in ``pixels`` [>=468, 2] (image pixels), ``margin`` region pixels each side: what
    :func:`eye_view` reads (the refinement keeps every frame's: ~0.02 MB against the whole
    region's ~0.2 MB on the synthetic actor)."""
    contours = np.asarray(pixels, dtype=np.float64)[[i for side in EYE_SIDES for i in LID_CONTOURS[side]]]
    region = face.to_region(contours)
    height, width = face.values.shape
    low = np.clip(np.floor(region.min(0) - margin).astype(int), 0, [width, height])
    high = np.clip(np.ceil(region.max(0) + margin).astype(int), low, [width, height])
    values = face.values[low[1]:high[1], low[0]:high[0]].copy()
    return type(face)(values, face.origin + low / face.scale, face.scale)


def eye_view(model, identity, frame, face, pixels, side):
    """The :class:`EyeView` of frame ``frame`` (:class:`~.fit.FrameFit`) for eye ``side``.

    face: the frame's eye image (:class:`~.face_image.FaceImage`, made with ``HIGH_PASS``);
    pixels: the fitted head's landmarks [>=468, 2] in image pixels (its lids)."""
    from matplotlib.path import Path

    e = EYE_SIDES.index(side)
    centre = model.eye_centre_mean[e] + identity @ model.eye_centre_identity[:, e]
    radius = (1.0 + identity @ model.eye_scale_identity) * np.linalg.norm(model.eye_points[0])
    rotation = frame.rotation_matrix()
    centre_camera = rotation @ centre + frame.translation
    contour = face.to_region(np.asarray(pixels, dtype=np.float64)[list(LID_CONTOURS[side])])
    low, high = np.floor(contour.min(0)).astype(int), np.ceil(contour.max(0)).astype(int)
    xs, ys = np.meshgrid(np.arange(low[0], high[0] + 1) + 0.5, np.arange(low[1], high[1] + 1) + 0.5)
    region = np.stack([xs.ravel(), ys.ravel()], -1)
    inside = Path(contour).contains_points(region)
    region = region[inside]
    region = region[_edge_distance(region, contour) > ERODE]
    values = sample(face.values.astype(np.float32), region) if len(region) else np.zeros(0)
    values = (values - values.mean()) / max(float(values.std()), 1e-6) if len(values) else values  # exposure
    image = region / face.scale + face.origin
    rays = np.concatenate([image, np.ones((len(image), 1))], 1) @ np.linalg.inv(frame.intrinsics()).T  # [N, 3]
    # the first hit of each ray t * ray on the sphere |x - centre| = radius
    along = rays @ centre_camera
    square = (rays * rays).sum(1)
    disc = along ** 2 - square * (centre_camera @ centre_camera - radius ** 2)
    t = (along - np.sqrt(np.where(disc > 0, disc, np.nan))) / square
    hits = ((t[:, None] * rays - centre_camera) @ rotation) / radius  # head frame, unit sphere
    return EyeView(side, values.astype(np.float64), hits)


def _regions_cost(values, distance, usable, iris):
    """[G] how badly three flat regions explain ``values`` [N] for each candidate: the sum of
    squares left after each region (sclera, iris, pupil by ``distance`` [G, N] from the
    eye's axis) takes its own mean, per usable pixel; inf where the iris would not be darker
    than the sclera, or too few pixels are usable, or a region other than the pupil is empty."""
    regions = (usable & (distance >= iris), usable & (distance < iris) & (distance >= PUPIL_RADIUS),
               usable & (distance < PUPIL_RADIUS))
    counts = [r.sum(1) for r in regions]
    sums = [(r * values).sum(1) for r in regions]
    explained = sum(np.where(n > 0, total * total / np.maximum(n, 1), 0.0) for n, total in zip(counts, sums))
    used = usable.sum(1)
    left = ((usable * values * values).sum(1) - explained) / np.maximum(used, 1)
    sclera, iris_mean = sums[0] / np.maximum(counts[0], 1), (sums[1] + sums[2]) / np.maximum(counts[1] + counts[2], 1)
    good = (used >= MIN_PIXELS) & (counts[0] >= MIN_REGION) & (counts[1] + counts[2] >= MIN_REGION) & (iris_mean < sclera)
    return np.where(good, left, np.inf)


def template_gaze(model, view, iris):
    """([2] the gaze whose iris and pupil regions best explain ``view``'s pixels (coarse, then
    fine grid), the share of the pixels' variance they explain there)."""
    best, cost = np.zeros(2), np.inf
    for offsets in (grid(SEARCH_DEG, COARSE_STEP_DEG), grid(FINE_DEG, FINE_STEP_DEG)):
        candidates = best + offsets
        coords, usable = view.coordinates(model, candidates)
        costs = _regions_cost(view.values, np.linalg.norm(coords, axis=-1), usable, iris)
        pick = int(np.argmin(costs))
        best, cost = candidates[pick], costs[pick]
    spread = view.values[usable[pick]].var() if usable[pick].any() else 0.0
    return best, (1.0 - cost / spread) if np.isfinite(cost) and spread > 0 else 0.0


def _texel_places(coords):
    """Gnomonic coordinates [..., 2] -> texel places [..., 2] (x, y) in 0..TEXTURE_SIZE - 1."""
    return (coords / TEXTURE_SPAN + 1.0) * 0.5 * (TEXTURE_SIZE - 1)


def build_eye_texture(model, views, angles):
    """(texture [S, S], seen [S, S] bool) of one eye from its views (None: not read) at their
    gaze ``angles`` [F, 2]: each pixel splatted (bilinearly) where it lands on the eyeball."""
    total, weight = np.zeros((TEXTURE_SIZE, TEXTURE_SIZE)), np.zeros((TEXTURE_SIZE, TEXTURE_SIZE))
    for view, angle in zip(views, angles):
        if view is None:
            continue
        coords, usable = view.coordinates(model, angle[None])
        usable = usable & (np.abs(coords) < TEXTURE_SPAN).all(-1)
        places, values = _texel_places(coords[0][usable[0]]), view.values[usable[0]]
        corner = np.floor(places).astype(int)
        fraction = places - corner
        for dx in (0, 1):
            for dy in (0, 1):
                share = (fraction[:, 0] if dx else 1 - fraction[:, 0]) * (fraction[:, 1] if dy else 1 - fraction[:, 1])
                x = np.clip(corner[:, 0] + dx, 0, TEXTURE_SIZE - 1)
                y = np.clip(corner[:, 1] + dy, 0, TEXTURE_SIZE - 1)
                np.add.at(total, (y, x), share * values)
                np.add.at(weight, (y, x), share)
    seen = weight > 0.005 * max(sum(v is not None for v in views), 1)
    return np.where(seen, total / np.maximum(weight, 1e-12), 0.0), seen


def texture_gaze(model, view, texture, seen, start):
    """[2] the gaze near ``start`` [2] whose pixels best match the eyeball ``texture``."""
    from scipy.ndimage import map_coordinates

    best = np.asarray(start, dtype=np.float64)
    for offsets in (grid(TEXTURE_SEARCH_DEG, TEXTURE_STEP_DEG), grid(FINE_DEG, FINE_STEP_DEG)):
        candidates = best + offsets
        coords, usable = view.coordinates(model, candidates)
        usable = usable & (np.abs(coords) < TEXTURE_SPAN).all(-1)
        places = _texel_places(coords).reshape(-1, 2)
        sampled = map_coordinates(texture, [places[:, 1], places[:, 0]], order=1, mode="nearest").reshape(usable.shape)
        known = map_coordinates(seen.astype(np.float64), [places[:, 1], places[:, 0]], order=1,
                                mode="nearest").reshape(usable.shape) > 0.99
        residual = view.values - sampled
        cost = np.where(usable & known, np.sqrt(1.0 + (residual / ROBUST) ** 2) - 1.0, MISSING_COST).sum(1)
        best = candidates[int(np.argmin(cost))]
    return best


def read_gaze(model, identity, frames, eye_images, landmark_pixels, progress=None, check=None, clips=None):
    """(gaze [F, 4] (eye.L X, Z, eye.R X, Z; both eyes alike), pixels [F, 2] each eye's (L, R)
    count of opening pixels read (0: not read), note) for fitted ``frames``
    (:class:`~.fit.FrameFit`) with their eye images (:class:`~.face_image.FaceImage`,
    ``HIGH_PASS``) and the fitted head's landmark pixels [478, 2] each. ``progress(done,
    total)`` after each frame's solve; ``check()`` before each (a cancel). clips: for video,
    per frame the clip it belongs to (consecutive frames of a clip, in order): the gaze is
    then smoothed along each clip (:func:`smooth_clips`); None: photos, each frame alone."""
    count = len(frames)
    total, done = (1 + TEXTURE_ROUNDS) * count, 0
    iris = iris_radius(model)
    views = {side: [] for side in EYE_SIDES}
    angles = {side: np.zeros((count, 2)) for side in EYE_SIDES}
    opening = np.zeros(count)  # pixels of both eyes' openings, read or not
    for k, (frame, face, pixels) in enumerate(zip(frames, eye_images, landmark_pixels)):
        if check:
            check()
        for side in EYE_SIDES:
            view = eye_view(model, identity, frame, face, pixels, side)
            opening[k] += view.count
            if view.count >= MIN_PIXELS:
                angles[side][k], explained = template_gaze(model, view, iris)
                view = view if explained >= MIN_EXPLAINED else None
            else:
                view = None
            views[side].append(view)
        done += 1
        if progress:
            progress(done, total)
    for _ in range(TEXTURE_ROUNDS):
        textures = {side: build_eye_texture(model, views[side], angles[side]) for side in EYE_SIDES}
        moved = {side: angles[side].copy() for side in EYE_SIDES}
        for k in range(count):
            if check:
                check()
            for side in EYE_SIDES:
                if views[side][k] is not None:
                    moved[side][k] = texture_gaze(model, views[side][k], *textures[side], angles[side][k])
            done += 1
            if progress:
                progress(done, total)
        for side in EYE_SIDES:  # the texture fixes no "straight ahead": the mean change stays zero
            read = np.array([v is not None for v in views[side]])
            if read.any():
                moved[side][read] -= (moved[side][read] - angles[side][read]).mean(0)
            angles[side] = moved[side]
    pixels = np.array([[0 if views[side][k] is None else views[side][k].count for side in EYE_SIDES]
                       for k in range(count)], dtype=np.float64).reshape(count, len(EYE_SIDES))
    apart = np.degrees(np.abs(angles[EYE_SIDES[0]] - angles[EYE_SIDES[1]])).max(1)
    pixels[(pixels > 0).all(1) & (apart > MAX_APART_DEG)] = 0.0  # the eyes disagree: neither is believed
    gaze = combine_eyes([angles[side] for side in EYE_SIDES], pixels)
    read = pixels.sum(1) >= FRAME_PIXELS
    closed = opening < FRAME_PIXELS
    unclear = ~read & ~closed  # open, but neither eye's iris stood out: the landmark fit's gaze
    note = (f"gaze from the image: {int(read.sum())} of {count} frame(s) read (iris regions, then {TEXTURE_ROUNDS} "
            f"texture round(s))")
    if clips is None:
        for k in np.flatnonzero(unclear):
            gaze[k] = frames[k].gaze
        note += (f"; {int(closed.sum())} with the eyes (nearly) closed look straight ahead; {int(unclear.sum())} whose "
                 f"irises did not stand out keep the landmark fit's gaze")
    else:
        gaze = smooth_clips(gaze, read, clips)
        note += (f"; {int((~read).sum())} with the eyes (nearly) closed or unclear take their clip's neighbours' gaze; "
                 f"smoothed along each clip ({VIDEO_SMOOTH:g} frame(s))")
    fade = sideways_weights(model, frames)
    gaze[:, 1::2] *= fade[:, None]  # the Z angles (sideways)
    if (fade < 1).any():
        note += (f"; {int((fade < 1).sum())} turned more than {TURN_FADE_DEG[0]:g} deg from the camera: their sideways "
                 f"gaze fades to straight ahead ({int((fade == 0).sum())} past {TURN_FADE_DEG[1]:g} deg)")
    return gaze, pixels, note


def sideways_weights(model, frames):
    """[F] how much of each frame's sideways gaze reading is kept: 1 up to a head turn of
    ``TURN_FADE_DEG[0]`` from the camera, falling linearly to 0 at ``TURN_FADE_DEG[1]``."""
    centre = np.asarray(model.eye_centre_mean, dtype=np.float64).mean(0)
    turns = np.abs([frame.turn_deg(centre) for frame in frames])
    low, high = TURN_FADE_DEG
    return np.clip((high - turns) / (high - low), 0.0, 1.0).reshape(len(frames))


def smooth_clips(gaze, read, clips):
    """[F, C] ``gaze`` [F, C] along each clip (``clips`` [F], consecutive frames): frames not
    ``read`` [F] take the gaze interpolated between their clip's read frames (a clip with
    none keeps its values), then a Gaussian of ``VIDEO_SMOOTH`` frames along the clip."""
    from scipy.ndimage import gaussian_filter1d

    gaze, read, clips = np.array(gaze, dtype=np.float64), np.asarray(read, dtype=bool), np.asarray(clips)
    for clip in np.unique(clips):
        rows = np.flatnonzero(clips == clip)
        known = rows[read[rows]]
        if len(known) == 0:
            continue
        for column in range(gaze.shape[1]):
            gaze[rows, column] = np.interp(rows, known, gaze[known, column])
        if len(rows) > 1 and VIDEO_SMOOTH > 0:
            gaze[rows] = gaussian_filter1d(gaze[rows], VIDEO_SMOOTH, axis=0, mode="nearest")
    return gaze


def combine_eyes(angles, pixels):
    """[F, 4] gaze (eye.L X, Z, eye.R X, Z) from each eye's reading ``angles`` (per EYE_SIDES
    [F, 2]) weighted by the pixels it read ``pixels`` [F, 2] (0: not read); both eyes take
    the combined gaze, and a frame with fewer than FRAME_PIXELS in all looks straight ahead."""
    pixels = np.asarray(pixels, dtype=np.float64)
    weights = pixels.sum(1)
    both = sum(pixels[:, e, None] * np.asarray(a, dtype=np.float64) for e, a in enumerate(angles))
    both = both / np.maximum(weights, 1.0)[:, None]
    both[weights < FRAME_PIXELS] = 0.0  # eyes (nearly) closed: straight ahead
    return np.concatenate([both, both], 1)
