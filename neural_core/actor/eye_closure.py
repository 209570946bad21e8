"""Closed eyes read from the image itself, beside the landmarks (issue 14).

MediaPipe often places a closed lid where an open one would be (on the synthetic actor its
lid opening correlates with the true blink at r 0.6-0.7; docs/actor.md), and no landmark
fit recovers a lid the detector puts elsewhere. The image shows it plainly: an open eye
shows its white and its iris between the lids, a closed one shows skin.

**The cue.** Per eye, a patch along the eye (``PATCH_ALONG`` x ``PATCH_ACROSS`` of the
corner-to-corner distance, placed by the eye corners, which MediaPipe places well) and a
strip of skin below it (``SKIN_BELOW``). The cue is the log of the 90th percentile of the
patch pixels' chromatic distance (rgb / (r + g + b)) from the skin strip's median: high
where the white or the iris shows, low over a closed lid.

**Without labels.** Over one actor's frames the cue is bimodal when some frames have closed
eyes. A two-component Gaussian mixture (EM in one dimension) finds the closed component, the
lower one, with no truth. It is used when the two components are cleanly apart (Ashman's
D >= ``MIN_SEPARATION``), the closed one holds at least ``MIN_CLOSED`` frames and the
landmark fit agrees on which is closed (its blinks are higher there by ``AGREEMENT``);
otherwise the landmark fit stands, with a note saying why.

**How closed.** The closed group holds half-closed eyes too (on the synthetic actor its
true blinks average 0.65-0.72), so the image's reading is graded, not 0 or 1: it rises
linearly from 0 at the open component's mean cue to 1 at ``CLOSED_DEPTH`` of the closed
component's SDs below the closed mean. Each frame's blink ``f`` then becomes
``f + weight x P(closed) x max(reading - f, 0)``: the image only ever closes an eye further
than the landmarks read it (MediaPipe misreads closed lids as open, not the reverse), and
only as far as the frame belongs to the closed group.

**An eye turned away.** A head turned more than ``FitSettings.far_eye_turn_deg`` (45) from
the camera hides much of its far eye behind the nose: its patch shows skin and reads closed
(on the synthetic actor every far eye past 45 degrees that was misread read closed, one at
0.97 on an open eye). That eye's cue is not used, and after the fusion it takes the near
eye's blink (:func:`far_eyes`, :func:`copy_near_blinks`); a wink of the hidden eye is lost.

**Both eyes together.** People blink with both eyes (on the synthetic actor the two true
blinks correlate at r 0.98) while each eye's cue has noise of its own, so where both eyes'
readings are adopted the frames are read in pairs: a mixture over the four states (both
open, both closed, one alone) whose per-eye Gaussians are the eyes' own mixtures, only the
four states' shares estimated (EM), gives each eye's P(closed) from both cues; an actor who
winks keeps a share for it. Where both eyes read closed together, each eye's graded reading
becomes the mean of the two (weighted by how much of the eye's P(closed) is that state).
"""

from dataclasses import dataclass

import numpy as np

# MediaPipe's eye corners per ARKit blink key (the subject's left eye is on the image's right)
EYE_CORNERS = {"eyeBlinkLeft": (362, 263), "eyeBlinkRight": (33, 133)}
PATCH_ALONG = 0.9  # the eye patch's length along the corner line, x the corners' distance
PATCH_ACROSS = 0.6  # its height across it
SKIN_BELOW = (0.6, 0.9)  # the skin strip's span below the corner line, x the corners' distance
SAMPLES = (16, 32)  # patch samples across, along
PERCENTILE = 90
MIN_FRAMES = 20  # fewer cues than this: no mixture
MIN_SEPARATION = 2.0  # Ashman's D between the components (2: cleanly apart)
MIN_CLOSED = 3  # frames the closed component must hold (sum of their probabilities)
AGREEMENT = 0.1  # the landmark fit's mean blink must be this much higher in the closed component
CLOSED_DEPTH = 0.5  # the graded reading is 1 this many closed-component SDs below the closed mean


def _sample(image, points_xy):
    """Bilinear samples [..., 3] in 0..1 of ``image`` uint8 [H, W, 3] at (x, y) [..., 2];
    None when any falls off the image. Only the samples' bounding box is converted."""
    from scipy.ndimage import map_coordinates

    height, width = image.shape[:2]
    x, y = points_xy[..., 0], points_xy[..., 1]
    if x.min() < 0 or y.min() < 0 or x.max() > width - 1 or y.max() > height - 1:
        return None
    x0, y0 = int(np.floor(x.min())), int(np.floor(y.min()))
    region = np.asarray(image[y0:int(np.ceil(y.max())) + 1, x0:int(np.ceil(x.max())) + 1], dtype=np.float64) / 255.0
    return np.stack([map_coordinates(region[..., c], [y - y0, x - x0], order=1) for c in range(3)], axis=-1)


def eye_cues(image, points):
    """The cue of each eye in ``EYE_CORNERS`` order: float64 [2] (NaN where a patch leaves the
    image). ``image`` RGB uint8 [H, W, 3]; ``points`` MediaPipe's landmarks [>= 468, 2], pixels."""
    rgb = np.asarray(image)
    points = np.asarray(points, dtype=np.float64)
    cues = np.full(len(EYE_CORNERS), np.nan)
    for i, (a, b) in enumerate(EYE_CORNERS.values()):
        start, end = points[a], points[b]
        along = end - start
        length = float(np.linalg.norm(along))
        if not np.isfinite(length) or length < 2.0:
            continue
        along /= length
        across = np.array([-along[1], along[0]])  # image "down" for a level eye with the corners left to right
        if across[1] < 0:
            across = -across
        centre = (start + end) / 2.0
        s = np.linspace(-PATCH_ALONG / 2, PATCH_ALONG / 2, SAMPLES[1]) * length
        t = np.linspace(-PATCH_ACROSS / 2, PATCH_ACROSS / 2, SAMPLES[0]) * length
        below = np.linspace(SKIN_BELOW[0], SKIN_BELOW[1], 6) * length
        patch = _sample(rgb, centre + s[None, :, None] * along + t[:, None, None] * across)
        skin = _sample(rgb, centre + s[None, :, None] * along + below[:, None, None] * across)
        if patch is None or skin is None:
            continue
        reference = np.median(skin.reshape(-1, 3), axis=0) + 1e-4
        chroma = patch / (patch.sum(axis=-1, keepdims=True) + 1e-4)
        distance = np.linalg.norm(chroma - reference / reference.sum(), axis=-1)
        cues[i] = float(np.log(np.percentile(distance, PERCENTILE) + 1e-3))
    return cues


@dataclass
class Mixture:
    """Two 1-D Gaussians; component 0 is the lower (closed eyes)."""

    means: np.ndarray  # [2]
    sds: np.ndarray  # [2]
    weights: np.ndarray  # [2], summing to 1

    @property
    def separation(self):
        """Ashman's D: sqrt(2) |m1 - m0| / sqrt(s0^2 + s1^2)."""
        return float(np.sqrt(2.0) * abs(self.means[1] - self.means[0]) / np.sqrt(np.sum(self.sds**2)))

    def closure(self, x):
        """The graded reading [N] in [0, 1] of cues ``x`` [N]: 0 at the open mean, 1 at
        ``CLOSED_DEPTH`` closed SDs below the closed mean, linear between."""
        full = self.means[0] - CLOSED_DEPTH * self.sds[0]
        return np.clip((self.means[1] - np.asarray(x, dtype=np.float64)) / (self.means[1] - full), 0.0, 1.0)

    def closed_probability(self, x):
        """P(component 0 | x) for cues ``x`` [N] (finite)."""
        x = np.asarray(x, dtype=np.float64)[:, None]
        density = self.weights * np.exp(-0.5 * ((x - self.means) / self.sds) ** 2) / self.sds
        return density[:, 0] / np.maximum(density.sum(axis=1), 1e-300)


def fit_mixture(x, iterations=200):
    """The two-component :class:`Mixture` of cues ``x`` [N] (finite), by EM from the 20th and
    80th percentiles."""
    x = np.asarray(x, dtype=np.float64)
    spread = max(float(x.std()), 1e-6)
    means, sds, weights = np.percentile(x, [20, 80]).astype(np.float64), np.full(2, spread / 2), np.full(2, 0.5)
    floor = 1e-3 * spread
    for _ in range(iterations):
        density = weights * np.exp(-0.5 * ((x[:, None] - means) / sds) ** 2) / sds
        share = density / np.maximum(density.sum(axis=1, keepdims=True), 1e-300)
        counts = share.sum(axis=0) + 1e-12
        weights = counts / len(x)
        means = (share * x[:, None]).sum(axis=0) / counts
        sds = np.sqrt((share * (x[:, None] - means) ** 2).sum(axis=0) / counts) + floor
    order = np.argsort(means)
    return Mixture(means[order], sds[order], weights[order])


def adopted_mixture(cues, blinks):
    """(the :class:`Mixture` of one eye's ``cues`` [N] (NaN: no face or no cue), or None where
    the image's reading is not adopted against the landmark fit's ``blinks`` [N]; a note)."""
    cues, blinks = np.asarray(cues, dtype=np.float64), np.asarray(blinks, dtype=np.float64)
    usable = np.isfinite(cues) & np.isfinite(blinks)
    if usable.sum() < MIN_FRAMES:
        return None, f"{int(usable.sum())} frames with a cue (needs {MIN_FRAMES})"
    mixture = fit_mixture(cues[usable])
    if mixture.separation < MIN_SEPARATION:
        return None, (f"the cue is not bimodal (separation {mixture.separation:.2f} < {MIN_SEPARATION}): "
                      "no closed eyes seen")
    probability = mixture.closed_probability(cues[usable])
    closed = float(probability.sum())
    if closed < MIN_CLOSED:
        return None, f"{closed:.1f} frames read closed (needs {MIN_CLOSED})"
    in_closed = float(np.sum(probability * blinks[usable]) / closed)
    in_open = float(np.sum((1.0 - probability) * blinks[usable]) / max(len(probability) - closed, 1e-9))
    if in_closed < in_open + AGREEMENT:
        return None, (f"the landmarks disagree (their blink {in_closed:.2f} where the image reads closed, "
                      f"{in_open:.2f} where open)")
    return mixture, f"{closed:.0f} of {int(usable.sum())} frames read closed (separation {mixture.separation:.2f})"


def closed_probabilities(cues, blinks):
    """(P(closed) [N], the graded reading [N], note) of one eye's ``cues`` [N] (NaN: no face or
    no cue) against the landmark fit's ``blinks`` [N] of that eye; both arrays are NaN where
    the image's reading is not adopted or a frame has no cue."""
    mixture, note = adopted_mixture(cues, blinks)
    return (*_readings(mixture, cues, blinks), note)


def _readings(mixture, cues, blinks):
    """(P(closed) [N], graded reading [N]) of one eye by ``mixture`` (None: all NaN), NaN
    where a frame has no cue or no blink."""
    cues, blinks = np.asarray(cues, dtype=np.float64), np.asarray(blinks, dtype=np.float64)
    out, graded = np.full(len(cues), np.nan), np.full(len(cues), np.nan)
    if mixture is not None:
        usable = np.isfinite(cues) & np.isfinite(blinks)
        out[usable] = mixture.closed_probability(cues[usable])
        graded[usable] = mixture.closure(cues[usable])
    return out, graded


def pair_posteriors(mixtures, cues, iterations=200):
    """P(state | both cues) [N, 2, 2] of frames with both eyes' ``cues`` [N, 2] (finite), and
    the states' shares [2, 2]; state index 0 = closed, axis 1 the first eye, axis 2 the
    second. The per-eye Gaussians are ``mixtures`` (one per eye); only the shares are
    estimated (EM, from the eyes' own weights as if independent)."""
    def density(x, mixture):  # [N, 2]: each component's density at x
        return np.exp(-0.5 * ((x[:, None] - mixture.means) / mixture.sds) ** 2) / mixture.sds

    first, second = density(cues[:, 0], mixtures[0]), density(cues[:, 1], mixtures[1])
    shares = np.outer(mixtures[0].weights, mixtures[1].weights)
    for _ in range(iterations):
        joint = shares[None] * first[:, :, None] * second[:, None, :]
        posterior = joint / np.maximum(joint.sum(axis=(1, 2), keepdims=True), 1e-300)
        shares = posterior.mean(axis=0)
    return posterior, shares


def far_eyes(frames, centre, limit_deg):
    """Per frame (FrameFit or None) the index in ``EYE_CORNERS`` order of the eye on the side
    turned away from the camera by more than ``limit_deg`` (the head's turn about its vertical
    axis, seen from ``centre`` [3], a head-frame point between the eyes), else -1 [N] int."""
    far = np.full(len(frames), -1, dtype=np.int64)
    for i, frame in enumerate(frames):
        if frame is None:
            continue
        turn = frame.turn_deg(centre)  # + : the camera on the head's +X side (its left eye's)
        if abs(turn) > limit_deg:
            far[i] = list(EYE_CORNERS).index("eyeBlinkRight" if turn > 0 else "eyeBlinkLeft")
    return far


def copy_near_blinks(frames, far, expression_names):
    """Each frame's far eye (``far``: :func:`far_eyes`) takes its near eye's blink, in place;
    returns how many frames changed."""
    indices = [list(expression_names).index(key) for key in EYE_CORNERS]
    count = 0
    for frame, eye in zip(frames, far):
        if frame is not None and eye >= 0:
            frame.expression[indices[eye]] = frame.expression[indices[1 - eye]]
            count += 1
    return count


def fuse_blinks(frames, cues, expression_names, weight):
    """Close each frame's blink further where the image reads the eye closed, in place:
    ``f + weight x P(closed) x max(reading - f, 0)`` (module docstring; both eyes read
    together where both are adopted). ``frames``: FrameFit or None per input frame; ``cues``
    [N, 2] (``EYE_CORNERS`` order, NaN where none). Returns one note per eye (str), and one
    more for the pair when read together."""
    cues = np.asarray(cues, dtype=np.float64).reshape(len(frames), len(EYE_CORNERS))
    indices = [list(expression_names).index(key) for key in EYE_CORNERS]
    blinks = np.array([np.full(len(indices), np.nan) if f is None else f.expression[indices] for f in frames],
                      dtype=np.float64).reshape(len(frames), len(indices))
    probability, graded = np.full(cues.shape, np.nan), np.full(cues.shape, np.nan)
    mixtures, notes = [], []
    for eye, key in enumerate(EYE_CORNERS):
        mixture, note = adopted_mixture(cues[:, eye], blinks[:, eye])
        mixtures.append(mixture)
        notes.append(f"{key}: {note}")
        probability[:, eye], graded[:, eye] = _readings(mixture, cues[:, eye], blinks[:, eye])
    pairs = np.isfinite(cues).all(axis=1) & np.isfinite(blinks).all(axis=1)
    if all(m is not None for m in mixtures) and pairs.sum() >= MIN_FRAMES:
        posterior, shares = pair_posteriors(mixtures, cues[pairs])
        closed = np.stack([posterior[:, 0, :].sum(axis=1), posterior[:, :, 0].sum(axis=1)], axis=1)  # [n, 2]
        together = posterior[:, 0, 0, None] / np.maximum(closed, 1e-12)  # the share of P(closed) that is "both"
        reading = graded[pairs]
        graded[pairs] = reading + together * (reading.mean(axis=1, keepdims=True) - reading)
        probability[pairs] = closed
        notes.append(f"both eyes read together: closed together in {posterior[:, 0, 0].sum():.0f} of {int(pairs.sum())} "
                     f"frames, one eye alone in {posterior[:, 0, 1].sum() + posterior[:, 1, 0].sum():.0f} "
                     f"(shares {shares[0, 0]:.2f}, {shares[0, 1] + shares[1, 0]:.2f})")
    for frame, p, g in zip(frames, probability, graded):
        if frame is None:
            continue
        for eye, index in enumerate(indices):
            if np.isfinite(p[eye]):
                blink = frame.expression[index]
                frame.expression[index] = float(np.clip(blink + weight * p[eye] * max(g[eye] - blink, 0.0), 0.0, 1.0))
    return notes
