"""neural_core/actor/eye_closure.py: the eye cue on drawn eyes, the unlabelled two-component
mixture, its safeguards, its graded reading, and the blinks closed further in place."""

import numpy as np
import pytest

from neural_core.actor.eye_closure import (EYE_CORNERS, MIN_FRAMES, closed_probabilities, copy_near_blinks, eye_cues,
                                           far_eyes, fit_mixture, fuse_blinks)
from neural_core.actor.fit import FrameFit
from neural_core.contract.rig.arkit import ARKIT_52

SKIN = (200, 140, 110)


def face_image(open_eyes, size=200):
    """A skin-coloured image with MediaPipe's four eye corners at fixed places and, when
    ``open_eyes``, an eye (white with a green iris) drawn between each pair; (image, points)."""
    image = np.empty((size, size, 3), np.uint8)
    image[:] = SKIN
    points = np.zeros((478, 2))
    for (a, b), x in zip(EYE_CORNERS.values(), (130.0, 50.0)):  # the subject's left eye on the image's right
        points[a], points[b] = (x - 20, 80), (x + 20, 80)
        if open_eyes:
            ys, xs = np.mgrid[:size, :size]
            white = ((xs - x) / 18.0) ** 2 + ((ys - 80) / 6.0) ** 2 <= 1
            image[white] = (235, 235, 230)
            image[((xs - x) ** 2 + (ys - 80) ** 2) <= 25] = (60, 110, 70)
    return image, points


def test_an_open_eye_reads_higher_than_a_closed_one_and_a_patch_off_the_image_reads_nan():
    opened, points = face_image(True)
    closed, _ = face_image(False)
    high, low = eye_cues(opened, points), eye_cues(closed, points)
    assert high.shape == (2,) and (high > low + 1.0).all()
    off = points.copy()
    a, b = EYE_CORNERS["eyeBlinkRight"]
    off[a], off[b] = (1, 5), (30, 5)  # the skin strip below is in the image, the patch is not
    cues = eye_cues(opened, off)
    assert np.isnan(cues[1]) and np.isfinite(cues[0])


def test_the_mixture_finds_two_groups_without_labels():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3.0, 0.2, 40), rng.normal(-2.0, 0.1, 60)])
    mixture = fit_mixture(rng.permutation(x))
    np.testing.assert_allclose(mixture.means, [-3.0, -2.0], atol=0.1)
    np.testing.assert_allclose(mixture.weights, [0.4, 0.6], atol=0.05)
    assert mixture.separation > 4
    p = mixture.closed_probability(np.array([-3.2, -2.5, -1.9]))
    assert p[0] > 0.99 and p[2] < 0.01


def test_the_graded_reading_runs_from_the_open_mean_to_below_the_closed_mean():
    from neural_core.actor.eye_closure import CLOSED_DEPTH, Mixture

    mixture = Mixture(np.array([-3.0, -2.0]), np.array([0.2, 0.1]), np.array([0.3, 0.7]))
    full = -3.0 - CLOSED_DEPTH * 0.2
    reading = mixture.closure(np.array([-1.5, -2.0, (full - 2.0) / 2, full, -4.0]))
    np.testing.assert_allclose(reading, [0.0, 0.0, 0.5, 1.0, 1.0])


def _eye(rng, closed_count=30, open_count=70, agree=True):
    cues = np.concatenate([rng.normal(-3.0, 0.2, closed_count), rng.normal(-2.0, 0.1, open_count)])
    blinks = np.concatenate([np.full(closed_count, 0.5 if agree else 0.0), np.full(open_count, 0.0 if agree else 0.5)])
    return cues, blinks


def test_closed_eyes_are_adopted_only_when_the_image_and_the_landmarks_agree():
    rng = np.random.default_rng(1)
    cues, blinks = _eye(rng)
    cues[3] = np.nan  # a frame without a cue gets no probability
    probability, graded, note = closed_probabilities(cues, blinks)
    assert "29 of 99 frames read closed" in note  # frame 3, closed, has no cue
    assert np.isnan(probability[3]) and (probability[:30][np.isfinite(probability[:30])] > 0.9).all()
    assert (probability[30:] < 0.1).all()
    assert np.isnan(graded[3]) and np.median(graded[:30][np.isfinite(graded[:30])]) > 0.5 and np.median(graded[30:]) < 0.1
    for arguments, says in (
        (_eye(rng, agree=False), "landmarks disagree"),
        ((rng.normal(-2.0, 0.1, 100), np.zeros(100)), "not bimodal"),
        (_eye(rng, closed_count=5, open_count=MIN_FRAMES - 10), f"needs {MIN_FRAMES}"),
        (_eye(rng, closed_count=1, open_count=100), "read closed (needs"),  # a single closed frame is not a group
    ):
        probability, graded, note = closed_probabilities(*arguments)
        assert np.isnan(probability).all() and np.isnan(graded).all() and says in note


def test_blinks_close_further_in_place_never_open_and_an_eye_without_a_mixture_keeps_the_landmark_fit():
    rng = np.random.default_rng(2)
    left, left_blinks = _eye(rng)
    right = rng.normal(-2.0, 0.1, 100)  # never closed: not bimodal
    frames = []
    for i in range(100):
        expression = np.zeros(52)
        expression[ARKIT_52.index("eyeBlinkLeft")] = left_blinks[i]
        expression[ARKIT_52.index("eyeBlinkRight")] = 0.2
        frames.append(FrameFit(expression, np.zeros(3), np.zeros(3), np.zeros(4), 500.0, (200, 200)))
    frames[50] = None
    frames[7].expression[ARKIT_52.index("eyeBlinkLeft")] = 1.0  # read more closed than the image says: kept
    cues = np.stack([left, right], axis=1)
    before = [None if f is None else f.expression.copy() for f in frames]
    notes = fuse_blinks(frames, cues, ARKIT_52, weight=0.5)
    assert notes[0].startswith("eyeBlinkLeft: 30 of 99") and notes[1].startswith("eyeBlinkRight: the cue is not bimodal")
    blink = ARKIT_52.index("eyeBlinkLeft")
    fitted = np.array([np.nan if f is None else f[blink] for f in before])
    probability, graded, _ = closed_probabilities(left, fitted)  # as fuse_blinks saw the eye
    for i in range(100):
        if i == 50:
            continue
        expected = fitted[i] + 0.5 * probability[i] * max(graded[i] - fitted[i], 0.0)
        assert frames[i].expression[blink] == pytest.approx(1.0 if i == 7 else expected)
        assert frames[i].expression[blink] >= before[i][blink]
    assert np.median([frames[i].expression[blink] for i in range(30) if i != 7]) > 0.6  # 0.5 -> towards ~0.9
    assert all(f.expression[ARKIT_52.index("eyeBlinkRight")] == 0.2 for f in frames if f is not None)
    assert frames[50] is None


def _blinking_frames(left, right):
    """FrameFit per frame with the landmark fit's blinks ``left`` [N] and ``right`` [N]."""
    frames = []
    for a, b in zip(left, right):
        expression = np.zeros(52)
        expression[ARKIT_52.index("eyeBlinkLeft")], expression[ARKIT_52.index("eyeBlinkRight")] = a, b
        frames.append(FrameFit(expression, np.zeros(3), np.zeros(3), np.zeros(4), 500.0, (200, 200)))
    return frames


def test_both_eyes_read_together_misread_fewer_frames_than_each_eye_alone():
    """Both eyes blink together; each eye's cue has its own noise, wide enough that each
    mixture alone misreads some frames. Read in pairs, fewer frames are misread, and in the
    frames read closed both eyes get the same graded reading."""
    rng = np.random.default_rng(4)
    closed = np.arange(200) < 60
    cues = np.where(closed[:, None], -3.0, -2.0) + rng.normal(0, 0.3, (200, 2))
    landmark_blink = np.where(closed, 0.4, 0.05)
    alone = []
    for eye in range(2):
        probability, _, _ = closed_probabilities(cues[:, eye], landmark_blink)
        alone.append(int(np.sum((probability > 0.5) != closed)))
    frames = _blinking_frames(landmark_blink, landmark_blink)
    notes = fuse_blinks(frames, cues, ARKIT_52, weight=1.0)
    assert notes[2].startswith("both eyes read together: closed together in 6")  # ~60 of 200
    fused = np.array([[f.expression[ARKIT_52.index(k)] for k in EYE_CORNERS] for f in frames])
    together = [int(np.sum((fused[:, eye] > 0.5) != closed)) for eye in range(2)]
    assert min(alone) >= 3 and max(together) <= min(alone) // 2, (alone, together)
    surely = closed & (fused > 0.5).all(axis=1)
    assert np.median(np.abs(fused[surely, 0] - fused[surely, 1])) < 0.01  # (less where a wink is possible too)


def test_an_actor_who_winks_keeps_the_wink():
    """Frames 0-29 both eyes closed, 30-49 the left eye alone, the rest open: the pair's
    shares keep the winks, the right eye stays open there."""
    rng = np.random.default_rng(5)
    left_closed, right_closed = np.arange(200) < 50, np.arange(200) < 30
    cues = np.stack([np.where(left_closed, -3.0, -2.0), np.where(right_closed, -3.0, -2.0)], 1) + rng.normal(0, 0.1, (200, 2))
    frames = _blinking_frames(np.where(left_closed, 0.4, 0.0), np.where(right_closed, 0.4, 0.0))
    notes = fuse_blinks(frames, cues, ARKIT_52, weight=1.0)
    assert "one eye alone in 20" in notes[2]
    fused = np.array([[f.expression[ARKIT_52.index(k)] for k in EYE_CORNERS] for f in frames])
    assert (fused[30:50, 0] > 0.7).all() and (fused[30:50, 1] < 0.01).all() and (fused[:30] > 0.7).all()


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_the_fit_blends_the_blinks_when_given_the_cues_and_says_so(weight):
    from neural_core.actor.fit import FitSettings, fit_actor
    from neural_core.actor.head_model import load_head_model

    from .test_actor_fit import FOCAL, SIZE, render_landmarks

    model = load_head_model()
    rng = np.random.default_rng(3)
    names = list(model.expression_names)
    detections, cues = [], []
    for k in range(24):
        expression = np.zeros(model.num_expression)
        closed = k % 3 == 0
        expression[names.index("eyeBlinkLeft")] = expression[names.index("eyeBlinkRight")] = 0.4 if closed else 0.0
        detections.append(render_landmarks(model, np.zeros(model.num_identity), expression, rng.normal(0, 0.1, 3),
                                           np.array([0.0, 0.03, 0.6]), np.zeros(4), noise=0.2, rng=rng))
        cues.append(np.full(2, -3.0 if closed else -2.0) + rng.normal(0, 0.05, 2))
    settings = FitSettings(eye_closure_weight=weight)
    plain = fit_actor(detections, [SIZE] * 24, settings, focal_hints=[FOCAL] * 24, model=model, calibration=None)
    fused = fit_actor(detections, [SIZE] * 24, settings, focal_hints=[FOCAL] * 24, model=model, calibration=None, eye_cues=cues)
    blink = names.index("eyeBlinkLeft")
    if weight == 0:
        assert fused.notes == [] and all(np.array_equal(a.expression, b.expression) for a, b in zip(plain.frames, fused.frames))
        return
    assert len(fused.notes) == 3 and "8 of 24 frames read closed" in fused.notes[0]
    assert "both eyes read together: closed together in 8 of 24 frames, one eye alone in 0" in fused.notes[2]
    for k, (a, b) in enumerate(zip(plain.frames, fused.frames)):
        if k % 3 == 0:  # read closed: the fitted 0.4 closes further, to about the graded reading (~0.7 to 1)
            assert b.expression[blink] > a.expression[blink] + 0.2
        else:  # read open: the landmark fit stands
            assert b.expression[blink] == pytest.approx(a.expression[blink], abs=0.02)


def turned(degrees, blinks=(0.0, 0.0)):
    """A FrameFit 0.6 m in front of the camera, turned ``degrees`` about the head's vertical axis."""
    expression = np.zeros(len(ARKIT_52))
    for key, value in zip(EYE_CORNERS, blinks):
        expression[ARKIT_52.index(key)] = value
    return FrameFit(expression=expression, rotation=np.array([0.0, np.radians(degrees), 0.0]),
                    translation=np.array([0.0, 0.0, 0.6]), gaze=np.zeros(4), focal=700.0, size=(512, 512))


def test_the_far_eye_is_the_one_further_from_the_camera_past_the_limit():
    from neural_core.actor.head_model import load_head_model

    model = load_head_model()
    centres = model.eye_centre_mean  # head frame, the subject's left eye (eyeBlinkLeft) first
    frames = [turned(d) for d in (-60, -50, -30, 0, 30, 50, 60)] + [None]
    far = far_eyes(frames, centres.mean(0), limit_deg=45.0)
    assert far[[2, 3, 4, 7]].tolist() == [-1, -1, -1, -1]
    for k in (0, 1, 5, 6):
        depth = [(frames[k].rotation_matrix() @ c + frames[k].translation)[2] for c in centres]
        assert far[k] == int(np.argmax(depth))  # the eye further from the camera
    assert far[0] != far[6] and far[0] == far[1] and far[5] == far[6]
    assert (far_eyes(frames, centres.mean(0), limit_deg=55.0) >= 0).tolist() == [True, False, False, False, False, False,
                                                                                  True, False]


def test_the_far_eye_takes_the_near_eyes_blink_in_place():
    frames = [turned(0, (0.1, 0.9)), turned(60, (0.2, 0.95)), turned(-60, (0.97, 0.3)), None]
    assert copy_near_blinks(frames, np.array([-1, 1, 0, -1]), ARKIT_52) == 2
    left, right = (ARKIT_52.index(key) for key in EYE_CORNERS)
    assert [(f.expression[left], f.expression[right]) for f in frames[:3]] == [(0.1, 0.9), (0.2, 0.2), (0.3, 0.3)]


def test_a_head_turned_away_reads_its_hidden_eye_like_the_near_one():
    """The far eye's patch shows skin (its cue reads closed): it is not read; its blink is the near eye's."""
    from neural_core.actor.fit import FitSettings, fit_actor
    from neural_core.actor.head_model import load_head_model

    from .test_actor_fit import FOCAL, SIZE, render_landmarks

    model = load_head_model()
    rng = np.random.default_rng(4)
    names = list(model.expression_names)
    detections, cues, far_side = [], [], []
    for k in range(30):
        expression = np.zeros(model.num_expression)
        closed = k % 3 == 0
        expression[names.index("eyeBlinkLeft")] = expression[names.index("eyeBlinkRight")] = 0.4 if closed else 0.0
        turn = (55.0 if k % 2 else -55.0) if k % 5 == 1 else rng.normal(0, 8)
        detections.append(render_landmarks(model, np.zeros(model.num_identity), expression,
                                           np.array([0.0, np.radians(turn), 0.0]), np.array([0.0, 0.03, 0.6]),
                                           np.zeros(4), noise=0.2, rng=rng))
        cue = np.full(2, -3.0 if closed else -2.0) + rng.normal(0, 0.05, 2)
        if abs(turn) > 45:
            far = list(EYE_CORNERS).index("eyeBlinkRight" if turn > 0 else "eyeBlinkLeft")
            cue[far] = -3.5  # skin: reads closed
            far_side.append((k, far))
        cues.append(cue)
    fit = fit_actor(detections, [SIZE] * 30, FitSettings(), focal_hints=[FOCAL] * 30, model=model, calibration=None,
                    eye_cues=cues)
    indices = [names.index(key) for key in EYE_CORNERS]
    assert len(far_side) == 6 and any("6 frame(s) turned more than 45 deg" in note for note in fit.notes)
    for k, far in far_side:
        blinks = fit.frames[k].expression[indices]
        assert blinks[far] == blinks[1 - far]
        assert blinks[far] < 0.1 if k % 3 else blinks[far] > 0.3  # open eyes stay open, closed ones closed
    off = fit_actor(detections, [SIZE] * 30, FitSettings(far_eye_turn_deg=90.0), focal_hints=[FOCAL] * 30, model=model,
                    calibration=None, eye_cues=cues)
    assert any(off.frames[k].expression[indices[far]] > 0.3 for k, far in far_side if k % 3)  # read closed, as before


def test_no_frames_leave_nothing_to_read():
    assert fuse_blinks([], np.zeros((0, 2)), ARKIT_52, weight=1.0) == [
        f"{key}: 0 frames with a cue (needs {MIN_FRAMES})" for key in EYE_CORNERS]
