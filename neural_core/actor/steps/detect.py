"""The detect step: MediaPipe's 478 landmarks on every input frame.

One file per input frame (``detect/frames/NNNNNN.npz``, written atomically) makes the
step resumable; every frame is detected on its own (MediaPipe's static-image mode, also
for video: tracking from the previous frame would make a resumed run differ from an
uninterrupted one, and it is not more precise; see :mod:`..landmarks`). At the end the
frames are gathered into ``detect/landmarks.npz``:

    points [N, 478, 2] float64 pixels (NaN where no usable face), depth [N, 478] float64
    (MediaPipe's relative depth in pixels, ``landmarks.Face.depth``; NaN where no usable
    face), eye_cues [N, 2] float64 (the image's eye cues, ``eye_closure.eye_cues``: closed
    eyes read from the image; NaN where no usable face or no cue), found [N] bool,
    reasons [N] str (why not; "" when found), sizes [N, 2] int (width, height; 0 when
    unreadable), focal [N] float64 (focal length hint in pixels from EXIF / video
    metadata, NaN when none), faces [N] int (faces MediaPipe found), warnings [N] str,
    entries [N] int, names [N] str, indices [N] int, labels [N] str (see input_frames.InputFrame).

The step fails (exit 2) when fewer input frames than the ``min_frames`` setting have a
usable face; the landmarks stay written and the step reruns in a moment.
"""

import numpy as np

from ...contract.atomic import write_atomically
from ..footage import FootageError
from ..input_frames import FootageReader, InputFrame, list_input_frames
from ..project import ActorError, file_digest, storage_errors
from . import up_to_date

FORMAT = "neural-face-actor-landmarks"
VERSION = 3  # 2: with depth; 3: with the eye cues
LANDMARKS = "landmarks.npz"
LISTED = 10  # frames named in one warning


def frame_path(actor, number):
    return actor.folder("detect") / "frames" / f"{number:06d}.npz"


def save_npz(path, **arrays):
    """numpy arrays to ``path`` atomically (no pickle)."""

    def write(temporary):
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(path, write)


def load_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def detect_one(detector, reader, frame):
    """The per-frame record (dict of arrays) of one :class:`InputFrame`."""
    empty = np.zeros((0, 2))
    try:
        image = reader.read(frame)
    except FootageError as error:
        return dict(points=empty, depth=np.zeros(0), eye_cues=np.zeros(0),
                    reason=np.array(f"{frame.label}: unreadable: {error.reason}"),
                    size=np.zeros(2, int),
                    focal=np.array(np.nan), faces=np.array(0), warnings=np.array([], dtype=str))
    found = detector.detect(image.image, label=frame.label)
    focal = image.focal.focal_px(image.width, image.height) if image.focal is not None else np.nan
    return dict(points=found.face.points if found.face is not None else empty,
                depth=found.face.depth if found.face is not None else np.zeros(0),
                eye_cues=found.face.eye_cues if found.face is not None else np.zeros(0), reason=np.array(found.reason or ""),
                size=np.array(found.image_size), focal=np.array(focal), faces=np.array(found.faces_found),
                warnings=np.array(list(found.warnings), dtype=str))


def gather(actor, frames):
    """The landmarks.npz arrays of every input frame's record."""
    count = len(frames)
    out = dict(format=np.array(FORMAT), version=np.array(VERSION), points=np.full((count, 478, 2), np.nan),
               depth=np.full((count, 478), np.nan), eye_cues=np.full((count, 2), np.nan),
               found=np.zeros(count, bool), sizes=np.zeros((count, 2), int), focal=np.full(count, np.nan),
               faces=np.zeros(count, int), entries=np.array([f.entry for f in frames], int),
               names=np.array([f.name for f in frames], dtype=str), indices=np.array([f.index for f in frames], int),
               labels=np.array([f.label for f in frames], dtype=str))
    reasons, warnings = [], []
    for frame in frames:
        record = load_npz(frame_path(actor, frame.number))
        i = frame.number
        if record["points"].shape == (478, 2):
            out["points"][i], out["depth"][i], out["found"][i] = record["points"], record["depth"], True
            out["eye_cues"][i] = record["eye_cues"]
        out["sizes"][i], out["focal"][i], out["faces"][i] = record["size"], record["focal"], record["faces"]
        reasons.append(str(record["reason"]))
        warnings.append("\n".join(str(w) for w in record["warnings"]))
    out["reasons"] = np.array(reasons, dtype=str)
    out["warnings"] = np.array(warnings, dtype=str)
    return out


def load_landmarks(actor):
    """The arrays of ``detect/landmarks.npz`` (ActorError when unreadable)."""
    path = actor.folder("detect") / LANDMARKS
    try:
        data = load_npz(path)
    except (OSError, ValueError) as error:
        raise ActorError(f"{path}: cannot be read ({error}); run python -m neural_core actor detect {actor.root} again") from None
    if str(data.get("format")) != FORMAT:
        raise ActorError(f"{path}: not a Neural Face landmarks file")
    if int(data.get("version", -1)) != VERSION:
        raise ActorError(f"{path}: landmarks version {int(data.get('version', -1))}; this Neural Face reads version {VERSION}: "
                         f"run python -m neural_core actor detect {actor.root} again")
    return data


def input_frames(data):
    """The :class:`InputFrame` list stored in landmarks.npz arrays."""
    return [InputFrame(i, int(e), str(n), int(k), str(label))
            for i, (e, n, k, label) in enumerate(zip(data["entries"], data["names"], data["indices"], data["labels"]))]


def summarise(data):
    """(summary dict, warnings list) of gathered landmarks."""
    count, found = len(data["found"]), int(data["found"].sum())
    skipped = [str(r) for r, ok in zip(data["reasons"], data["found"]) if not ok]
    several = [str(label) for label, faces, ok in zip(data["labels"], data["faces"], data["found"]) if faces > 1 and ok]
    warnings = []
    if skipped:
        more = f"; and {len(skipped) - LISTED} more (python -m neural_core actor status lists them)" if len(skipped) > LISTED else ""
        warnings.append(f"{len(skipped)} of {count} input frame(s) skipped: " + "; ".join(skipped[:LISTED]) + more)
    if several:
        more = f" and {len(several) - LISTED} more" if len(several) > LISTED else ""
        warnings.append(f"several faces in {len(several)} input frame(s), the largest kept: " + ", ".join(several[:LISTED]) + more)
    return {"frames": count, "faces": found, "skipped": len(skipped), "skipped_frames": skipped[:100]}, warnings


def run(context):
    actor, job = context.actor, context.job
    inputs = actor.inputs("detect")
    if actor.is_done("detect"):
        return up_to_date(context, "detect", actor.state("detect").get("summary"))
    frames = list_input_frames(actor)
    resuming = actor.begin("detect", inputs)
    pending = [f for f in frames if not (resuming and frame_path(actor, f.number).is_file())]
    job.start(len(frames), [f.number for f in frames], step="detect", actor=str(actor.root), resumed=len(frames) - len(pending))
    if resuming and len(pending) < len(frames):
        context.note(f"actor detect: resuming, {len(frames) - len(pending)} of {len(frames)} input frame(s) already done")
    waiting = {f.number for f in pending}
    for frame in frames:
        if frame.number not in waiting:
            job.frame_done(frame.number, path=str(frame_path(actor, frame.number)), skipped=True)
    if pending:
        from ..landmarks import LandmarkDetector

        with LandmarkDetector(min_face_px=actor.setting("min_face_px"),
                              mirror=actor.setting("mirror_detection"),
                              views=actor.setting("detection_views")) as detector, FootageReader(actor) as reader:
            for frame in job.frames(pending):
                record = detect_one(detector, reader, frame)
                with storage_errors():
                    path = save_npz(frame_path(actor, frame.number), **record)
                job.frame_done(frame.number, path=str(path))
    data = gather(actor, frames)
    with storage_errors():
        path = save_npz(actor.folder("detect") / LANDMARKS, **data)
    summary, warnings = summarise(data)
    for message in warnings:
        job.warning(message)
    minimum = actor.setting("min_frames")
    if summary["faces"] < minimum:
        raise ActorError(f"only {summary['faces']} of {summary['frames']} input frame(s) have a usable face; an actor needs "
                         f"at least {minimum} (--min-frames): add footage, or lower --min-frames")
    actor.finish("detect", inputs, file_digest(path), summary)
    context.note(f"actor detect: {summary['faces']} of {summary['frames']} input frame(s) have a face -> {path}")
