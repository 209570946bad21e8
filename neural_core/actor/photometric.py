"""The head pose read from the image itself: a photometric refinement of the landmark fit.

MediaPipe's landmark errors within a frame are not independent: the whole mesh is off
together (its own head-pose estimate is a few degrees off), which any landmark fit takes
for a real turn (docs/actor.md, "The pose from the image"). This refinement moves each
frame's head rotation and translation to where the *pixels* say, against a texture of the
actor built from all the frames:

1. :func:`.face_image.prepare_face`: each frame's face region is resampled to a common scale
   (``IOD_PIXELS`` between the outer eye corners), made grey and locally normalised (high-pass
   over local contrast), so smooth shading, exposure and colour differences between photos
   count little while eyes, brows, lips, nostrils and skin detail remain.
2. The actor's texture, in the face mesh's texture space (:mod:`.texture_space`): every
   texel sampled in every frame where the fitted head puts it, weighted by how squarely its
   triangle faces the camera, averaged. Texels seen in few frames are not used; a texel's
   weight is one over its spread across frames.
3. Per frame, the rotation (about the face's centre) and translation that make the frame's
   samples match the texture: Gauss-Newton with a soft-L1 weight, through the image's
   gradients. Then the texture is rebuilt from the new poses, and again (``rounds``).
   The frame's sharp gradients overstate the curvature against a texture averaged over
   frames, so each plain step covers only a few percent of the way: a step
   ``FitSettings.photometric_step_gain`` times longer is taken where it lowers the cost, else the plain one. A round moves each
   frame part of the way, not to convergence (converged rounds drift: docs/actor.md).

4. Then the jaw (``FitSettings.photometric_jaw_rounds``): with each frame's pose held, its
   jawOpen value moves to where the pixels of the lips and chin say, the same way (the
   vertices follow the head model's jawOpen key; the texture is rebuilt every round).
   MediaPipe reads a wide-open jaw as less open, by a different amount in every frame
   (docs/actor.md, "The jaw from the image").

5. Then the gaze (``FitSettings.photometric_gaze``): each iris found on its eyeball with the
   pose, jaw and lids held (:mod:`.gaze_image`); the eyeLook keys follow it.

The other expression keys, focal length and identity stay the landmark fit's. A frame the
image would turn further than ``MAX_TURN_DEG`` from its landmark pose keeps that pose (and
its jaw).
"""

import dataclasses

import numpy as np

from . import rotations
from .face_image import FaceImage, face_region, frontal_iod, normalise, sample
from .head_model import NUM_FACE
from .problems import FRONTAL, interocular, project, projection_jacobian, skew_rows
from .texture_space import TexelMap, load_face_mesh

TEXTURE_SIZE = 256  # texels per side of the texture
MIN_FACING = 0.25  # a texel counts only where its triangle's cosine to the camera exceeds this
MIN_SEEN = 0.1  # a texel is used only if seen (facing weight summed) in this fraction of the frames
MIN_SPREAD = 0.05  # floor of a texel's variance across frames (its weight is 1 / sqrt(variance))
ROBUST = 0.5  # soft-L1 scale of the residual (normalised grey units)
MAX_TURN_DEG = 10.0  # a refined rotation further than this from the landmark fit's is not kept


class PoseRefiner:
    """The texture and the per-frame Gauss-Newton solve (see the module docstring).

    vertices: per frame the fitted head's face vertices [468, 3] in the head frame (expression
    applied); frames: the :class:`~.fit.FrameFit` of each; faces: the :class:`FaceImage` of each;
    jaw: None, or (per frame its jawOpen value [K], the vertices' change per unit of it
    [468, 3] in metres): then :meth:`refine_jaw` can move it, kept in ``jaw_values``.
    """

    def __init__(self, vertices, frames, faces, texture_size=TEXTURE_SIZE, jaw=None):
        self.texels = TexelMap(load_face_mesh(), texture_size)
        self.vertices, self.faces = [np.asarray(v, dtype=np.float64) for v in vertices], faces
        self.jaw_values = None if jaw is None else np.array(jaw[0], dtype=np.float64)
        self.jaw_basis = np.zeros((NUM_FACE, 3)) if jaw is None else np.asarray(jaw[1], dtype=np.float64)
        self.jaw_start = None if jaw is None else self.jaw_values.copy()
        self.rotation = [f.rotation_matrix() for f in frames]  # head frame -> camera
        self.translation = [np.asarray(f.translation, dtype=np.float64).copy() for f in frames]
        self.focal = [float(f.focal) for f in frames]
        self.centre_px = [np.array(f.size, dtype=np.float64) / 2.0 for f in frames]
        self.texture = self.weight = None

    def camera_points(self, k):
        return self.vertices[k] @ self.rotation[k].T + self.translation[k]

    def _pixels(self, k, camera):
        """[468, 2] frame k's pixels of camera-space landmarks ``camera`` [468, 3]."""
        return project(camera[None], np.array([self.focal[k]]), self.centre_px[k][None])[0]

    def _visibility(self, camera):
        return np.clip((self.texels.facing(camera) - MIN_FACING) / (1.0 - MIN_FACING), 0.0, 1.0)

    def build_texture(self):
        """The texture [N] and each texel's weight [N] from every frame at its present pose."""
        total = np.zeros(len(self.texels))
        squares, seen = np.zeros_like(total), np.zeros_like(total)
        for k, face in enumerate(self.faces):
            camera = self.camera_points(k)
            visible = self._visibility(camera)
            values = sample(face.values.astype(np.float32), face.to_region(self.texels.weights @ self._pixels(k, camera)))
            total += visible * values
            squares += visible * values * values
            seen += visible
        mean = total / np.maximum(seen, 1e-9)
        spread = squares / np.maximum(seen, 1e-9) - mean * mean
        used = seen >= MIN_SEEN * len(self.faces)
        self.texture = mean
        self.weight = np.where(used, 1.0 / np.sqrt(np.maximum(spread, MIN_SPREAD)), 0.0)

    def refine(self, k, iterations, gain):
        """Move frame k's pose to match the texture (``build_texture`` first): ``iterations``
        Gauss-Newton steps, each tried ``gain`` times longer first."""
        self._solve(k, iterations, gain, jaw=False)

    def refine_jaw(self, k, iterations, gain):
        """Move frame k's jawOpen value (within [0, 1]) to match the texture, its pose held."""
        if self.jaw_values is None:
            raise ValueError("refine_jaw needs a PoseRefiner made with jaw=")
        self._solve(k, iterations, gain, jaw=True)

    def _solve(self, k, iterations, gain, jaw):
        """Gauss-Newton on frame k's pose (6 unknowns: rotation about the face centre,
        translation in mm) or, with ``jaw``, its jawOpen value alone."""
        values = self.faces[k].values.astype(np.float32)
        gradient_y, gradient_x = np.gradient(values)
        scale, focal = self.faces[k].scale, self.focal[k]
        centre = self.vertices[k].mean(0)
        weight = self.weight * self._visibility(self.camera_points(k))  # held through the solve
        used = weight > 0
        if used.sum() < 100:
            return  # too little of the face in view to say anything
        blend, texture, weight = self.texels.weights[used], self.texture[used], weight[used]

        def evaluate(rotation, translation, vertices):  # -> (region places [n, 2], residual [n], soft-L1 cost)
            places = self.faces[k].to_region(blend @ self._pixels(k, vertices @ rotation.T + translation))
            residual = sample(values, places) - texture
            return places, residual, float(weight @ (np.sqrt(1.0 + (residual / ROBUST) ** 2) - 1.0))

        places, residual, cost = evaluate(self.rotation[k], self.translation[k], self.vertices[k])
        for _ in range(iterations):
            camera = self.camera_points(k)
            slope = np.stack([sample(gradient_x, places), sample(gradient_y, places)], -1)  # [n, 2]
            # d (camera position of each landmark) / d (the unknowns)
            if jaw:
                d_camera = (self.jaw_basis @ self.rotation[k].T)[:, :, None]  # [468, 3, 1]
            else:  # rotation about the face centre, translation
                arm = camera - (self.rotation[k] @ centre + self.translation[k])
                d_camera = np.zeros((NUM_FACE, 3, 6))
                d_camera[:, :, :3] = -skew_rows(arm, np.broadcast_to(np.eye(3), (NUM_FACE, 3, 3))).transpose(0, 2, 1)  # w x arm
                d_camera[:, :, 3:] = np.eye(3) * 1e-3  # translation in millimetres
            unknowns = d_camera.shape[2]
            d_pixel = projection_jacobian(camera[None], np.array([focal]))[0]  # [468, 2, 3]
            d_landmark = scale * np.einsum("nij,njk->nik", d_pixel, d_camera)  # [468, 2, unknowns]
            d_texel = (blend @ d_landmark.reshape(NUM_FACE, 2 * unknowns)).reshape(-1, 2, unknowns)
            jacobian = slope[:, 0, None] * d_texel[:, 0] + slope[:, 1, None] * d_texel[:, 1]  # [n, unknowns]
            robust = weight / np.sqrt(1.0 + (residual / ROBUST) ** 2)
            normal = (jacobian * robust[:, None]).T @ jacobian
            step = -np.linalg.solve(normal + 1e-6 * np.trace(normal) * np.eye(unknowns) + 1e-12 * np.eye(unknowns),
                                    (jacobian * robust[:, None]).T @ residual)
            for length in (gain, 1.0):  # the longer step where it lowers the cost, else the plain one
                moved = self._jaw_moved(k, length * step[0]) if jaw else (*self._moved(k, centre, length * step),
                                                                            self.vertices[k])
                trial = evaluate(*moved[:3])
                if trial[2] < cost:
                    break
            self.rotation[k], self.translation[k] = moved[:2]
            if jaw:
                self.jaw_values[k] = moved[3]
                self.vertices[k] = moved[2]
            places, residual, cost = trial
            if jaw:
                if abs(length * step[0]) < 1e-4:
                    break
            elif length * np.abs(step[:3]).max() < 1e-5 and length * np.abs(step[3:]).max() < 1e-3:
                break

    def _jaw_moved(self, k, step):
        """(rotation, translation, vertices, jawOpen) of frame k with its jawOpen moved by
        ``step``, kept within [0, 1]."""
        value = float(np.clip(self.jaw_values[k] + step, 0.0, 1.0))
        vertices = self.vertices[k] + (value - self.jaw_values[k]) * self.jaw_basis
        return self.rotation[k], self.translation[k], vertices, value

    def _moved(self, k, centre, step):
        """Frame k's (rotation, translation) turned by ``step[:3]`` (radians, about the face
        centre) and moved by ``step[3:]`` (mm)."""
        step = np.asarray(step, dtype=np.float64)
        turn = rotations.axis_angle(step[:3])
        pivot = self.rotation[k] @ centre + self.translation[k]
        return turn @ self.rotation[k], turn @ (self.translation[k] - pivot) + pivot + step[3:] * 1e-3


def refine_poses(fit, read_image, model, settings, detections=None, calibration="default", progress=None, check=None,
                 segments=None):
    """``fit`` (:class:`~.fit.ActorFit`) with each converged frame's rotation and translation
    refined from its image; ``read_image(i)`` returns input frame i's image ([H, W] or
    [H, W, C], any dtype), called once per frame in order. ``detections`` (per frame [478, 2]
    or None): when given, each refined frame's ``residual`` is measured again against them
    (with ``calibration``, as the fit measured it). ``progress(done, total)`` after each
    frame's solve; ``check()`` before each (a cancel). segments: for video (``settings.video``),
    per input frame the clip it comes from (None: one clip), for the gaze's smoothing.
    Returns a new ActorFit (the input is not changed) with a note of what moved."""
    from . import gaze_image
    from .calibration import load_calibration
    from .fit_shot import projected_vertices
    from .linear_head import LinearHead

    rounds, iterations = settings.photometric_rounds, settings.photometric_iterations
    jaw_rounds = settings.photometric_jaw_rounds if rounds > 0 else 0
    used = [i for i, f in enumerate(fit.frames) if f is not None and f.converged]
    if rounds <= 0 or len(used) < 2:
        return fit
    head = LinearHead(model)
    jaw_key = list(model.expression_names).index("jawOpen")
    faces, vertices = [], []
    eye_images = [] if settings.photometric_gaze else None
    for count, i in enumerate(used):
        if check:
            check()
        frame = fit.frames[i]
        vertices.append(head.face(fit.identity[None], frame.expression[None])[0])
        points = projected_vertices(model, fit.identity, frame)
        region, low, scale = face_region(read_image(i), points, frontal_iod(vertices[-1], frame))
        faces.append(FaceImage(normalise(region), low, scale))
        if eye_images is not None:  # (the same region, filtered for the eyes)
            eye_images.append(gaze_image.eye_band(FaceImage(normalise(region, gaze_image.HIGH_PASS), low, scale), points))
    jaw = ([fit.frames[i].expression[jaw_key] for i in used], head.expression_basis[:, :, jaw_key])
    refiner = PoseRefiner(vertices, [fit.frames[i] for i in used], faces, jaw=jaw)
    total, done = (rounds + jaw_rounds + (1 + gaze_image.TEXTURE_ROUNDS) * (eye_images is not None)) * len(used), 0
    for round_number in range(rounds + jaw_rounds):
        refiner.build_texture()
        solve = refiner.refine if round_number < rounds else refiner.refine_jaw
        for k in range(len(used)):
            if check:
                check()
            solve(k, iterations, settings.photometric_step_gain)
            done += 1
            if progress:
                progress(done, total)
    measured = None
    if detections is not None:
        measured = LinearHead(model, load_calibration() if calibration == "default" else calibration)
    frames, turns, kept = list(fit.frames), [], 0
    for k, i in enumerate(used):
        frame = fit.frames[i]
        turn = np.degrees(np.linalg.norm(rotations.rotation_vector(refiner.rotation[k] @ frame.rotation_matrix().T)))
        if turn > MAX_TURN_DEG:
            kept += 1
            refiner.jaw_values[k] = refiner.jaw_start[k]  # (its jaw was read at a pose not kept)
            continue
        turns.append(turn)
        expression = np.array(frame.expression, dtype=np.float64)
        expression[jaw_key] = refiner.jaw_values[k]
        moved = dataclasses.replace(frame, rotation=rotations.rotation_vector(refiner.rotation[k] @ FRONTAL.T),
                                    translation=refiner.translation[k].copy(), expression=expression)
        frames[i] = moved
    note = (f"pose from the image: {len(turns)} frame(s) refined in {rounds} round(s), median turn "
            f"{np.median(turns) if turns else 0.0:.2f} deg" + (f"; {kept} frame(s) kept the landmark pose (the image "
                                                                f"turned them more than {MAX_TURN_DEG:g} deg)" if kept else ""))
    notes = list(fit.notes) + [note]
    if jaw_rounds:
        change = np.abs(refiner.jaw_values - refiner.jaw_start)
        notes.append(f"jaw from the image: {jaw_rounds} round(s), jawOpen moved by {np.median(change):.3f} "
                     f"(median; 90th percentile {np.percentile(change, 90):.3f})")
    if eye_images is not None:  # the gaze, with the pose and the lids now final
        current = [frames[i] for i in used]
        gaze, _, gaze_note = gaze_image.read_gaze(
            model, fit.identity, current, eye_images, [projected_vertices(model, fit.identity, f) for f in current],
            progress=None if progress is None else (lambda step, _: progress(done + step, total)), check=check,
            clips=None if not settings.video else [0 if segments is None else segments[i] for i in used])
        looks = head.look_values(gaze)[0]
        for k, i in enumerate(used):
            expression = np.array(frames[i].expression, dtype=np.float64)
            expression[head.look_columns] = looks[k, head.look_columns]
            frames[i] = dataclasses.replace(frames[i], gaze=gaze[k].copy(), expression=expression)
        notes.append(gaze_note)
    if measured is not None:
        for i in used:
            if detections[i] is not None and frames[i] is not fit.frames[i]:
                frames[i] = dataclasses.replace(frames[i], residual=landmark_residual(measured, fit.identity, frames[i],
                                                                                      detections[i]))
    return dataclasses.replace(fit, frames=frames, notes=notes)


def landmark_residual(head, identity, frame, detected):
    """Median distance (% IOD) between the head's landmarks (as ``head`` places them) and ``detected``."""
    points = head.points(identity[None], frame.expression[None], frame.gaze[None])[0]
    camera = points @ frame.rotation_matrix().T + frame.translation
    pixels = project(camera[None], np.array([frame.focal]), np.array(frame.size, dtype=np.float64)[None] / 2.0)[0]
    detected = np.asarray(detected, dtype=np.float64)
    return float(np.median(np.linalg.norm(pixels - detected, axis=1)) * 100.0 / max(float(interocular(detected)), 1e-6))
