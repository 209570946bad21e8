"""The render loop: shot folder in, one RGBA image per frame out, under the worker protocol.

Streaming: ``shot.json`` (small) is read once; each frame's passes are read, rendered,
written and dropped, so memory does not grow with the shot's length. When the model
leaves CPU to spare (a GPU, or more cores than torch uses), reading frame i+1 and writing
frame i-1 run on one I/O thread while frame i is synthesised (numpy, zlib and OpenEXR
release the GIL); frames are still reported in order, each once its file is complete.
Determinism: the appearance latent and the noise maps are fixed per shot, so the same
inputs give bit-identical frames, and a job killed half-way and rerun gives exactly the
frames of an uninterrupted run (see :mod:`.manifest`).
"""

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..contract.errors import NeuralFaceError, ShotFormatError
from ..contract.protocol import Job
from ..contract.shot import read_shot
from ..contract.shot.validate import check_pass_files
from ..contract.frames import DEFAULT_NAME, EXTENSIONS as FORMATS, frame_file_name, parse_frame_spec
from .images import write_frame
from .chunks import OutputChunk, storage_error
from .manifest import array_parts, file_identity, file_sha256, frame_hash

RENDER_VERSION = 2  # bump when the same inputs would give different pixels


@dataclass
class RenderOptions:
    shot: str  # shot folder
    out: str  # output folder (created)
    model: str = "default"  # "default" or a checkpoint path
    frames: str | None = None  # "1-48", "1,5,10-12"; None = every frame of the shot
    image_format: str = "png"  # "png" | "exr"
    bit_depth: int = 8  # PNG only: 8 or 16
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N" | "mps"
    appearance: int = 0  # seed of the appearance latent (skin, lighting), fixed for the shot
    smoothing: float = 0.0  # temporal filter on the coefficients: Gaussian sigma in frames (0 = off)
    truncation_psi: float = 1.0  # < 1 pulls the face towards the model's average
    name: str = DEFAULT_NAME  # output file pattern; the last run of '#' is the padded frame number
    force: bool = False  # render every frame even when the manifest says it is current
    stabilise_colour: bool = False  # hold the skin's chromaticity to the shot's reference (colour_stabiliser.py)
    stabilise_brightness: bool = False  # also its mean luminance (implies stabilise_colour; shots with constant light)

    def __post_init__(self):
        self.stabilise_colour = self.stabilise_colour or self.stabilise_brightness  # one rule, every caller


def smoothed_coefficients(shot, wanted_names, sigma):
    """{frame: [len(wanted_names)] float32}: the shot's coefficients in the model's order,
    optionally Gaussian-filtered over time (sigma in frames, ``mode='nearest'`` at the ends).

    Always computed over the whole shot, so rendering a sub-range gives the same frames.
    """
    index = {name: i for i, name in enumerate(shot.coefficient_names)}
    values = np.zeros((len(shot.frames), len(wanted_names)), dtype=np.float64)
    for column, name in enumerate(wanted_names):
        if name in index:
            values[:, column] = [record.coefficients[index[name]] for record in shot.frames]
    if sigma and sigma > 0 and len(shot.frames) > 1:
        from scipy.ndimage import gaussian_filter1d

        values = gaussian_filter1d(values, sigma=float(sigma), axis=0, mode="nearest")
    return {record.frame: values[i].astype(np.float32) for i, record in enumerate(shot.frames)}


def _identity(path):
    """``file_identity`` of ``path``, or None when it cannot be read."""
    try:
        return file_identity(path)
    except OSError:
        return None


def _check_writable(folder):
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".neural_face_write_test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise NeuralFaceError(f"{folder}: output folder is not writable ({error.strerror or error})") from error


class ShotRenderer:
    """Prepared state for one shot: the shot, the model, conditioning and the manifest."""

    def __init__(self, options: RenderOptions):
        from .model import FaceModel, resolve_model_path

        if options.image_format not in FORMATS:
            raise NeuralFaceError(f"--format must be one of {sorted(FORMATS)}, got {options.image_format!r}")
        if options.image_format == "png" and options.bit_depth not in (8, 16):
            raise NeuralFaceError(f"--depth must be 8 or 16 for PNG, got {options.bit_depth}")
        if options.smoothing < 0:
            raise NeuralFaceError(f"--smoothing must be >= 0 (Gaussian sigma in frames), got {options.smoothing}")
        self.options = options
        self.shot_folder = Path(options.shot)
        self.shot_identity = _identity(self.shot_folder / "shot.json")  # a changed shot.json stops the run (see prepare)
        self.shot = read_shot(self.shot_folder, check_passes=False)
        self.frames = parse_frame_spec(options.frames, self.shot.frame_numbers(), self.shot.frame_step)
        check_pass_files(self.shot_folder, self.shot, frames=self.frames)  # only the frames to render
        if options.stabilise_colour and "regions" not in self.shot.passes:
            raise ShotFormatError("--stabilise-colour needs the regions pass, which this shot lacks (export the shot "
                                  "with passes on)", file=self.shot_folder / "shot.json", field="passes")
        self.model = FaceModel(resolve_model_path(options.model), device=options.device,
                               appearance_seed=options.appearance, truncation_psi=options.truncation_psi)
        missing = [name for name in self.model.needed_passes if name not in self.shot.passes]
        if missing:
            raise ShotFormatError(
                f"the model needs the passes {missing} but the shot has {sorted(self.shot.passes) or 'none'} "
                "(export the shot with passes on)", file=self.shot_folder / "shot.json", field="passes")
        from ..face_model.inputs import check_coefficients

        # raises when the shot drives none of the model's coefficients; warnings go out once, after `start`
        self.warnings = check_coefficients(self.shot.coefficient_names, self.model.coefficient_names,
                                           self.shot.rig_profile)
        self.coefficients = smoothed_coefficients(self.shot, self.model.coefficient_names, options.smoothing)
        self.read_names = list(self.model.needed_passes)  # the passes read per frame
        self._colour_reference = None  # (reference chromaticity [3] or None, luminance or None) once computed
        if options.stabilise_colour and "regions" not in self.read_names:
            self.read_names.append("regions")
        self.out = Path(options.out)
        _check_writable(self.out)
        self.extension = FORMATS[options.image_format]
        fingerprint = asdict(options)
        for key in ("shot", "out", "model", "frames", "device", "force"):
            fingerprint.pop(key)  # where things are and which subset runs do not change pixels
        for key in ("stabilise_colour", "stabilise_brightness"):
            if not fingerprint[key]:
                fingerprint.pop(key)  # off: the hashes of renders made before the option existed hold
        self.fingerprint = {"render_version": RENDER_VERSION, "model_sha256": self.model.sha256,
                            "resolution": list(self.shot.resolution), **fingerprint}
        # this process's chunk of the output folder: frame locks, manifest, log (see .chunks)
        self.chunk = OutputChunk(
            self.out, options.name.replace("#", "").rstrip("_.-") or "neural", self.frames, self.shot.frame_numbers(),
            job={"model_sha256": self.model.sha256,
                 "options": frame_hash({k: v for k, v in self.fingerprint.items() if k != "model_sha256"}),
                 "shot_sha256": file_sha256(self.shot_folder / "shot.json")},
            file_names={frame: self.output_path(frame).name for frame in self.frames})
        self.manifest = self.chunk.manifest

    def start_fields(self):
        return {"shot": str(self.shot_folder), "out": str(self.out), "model": self.model.describe(),
                "device_note": self.model.device_note, "format": self.options.image_format}

    def output_path(self, frame):
        return self.out / frame_file_name(self.options.name, frame, self.extension)

    def prepare(self, frame) -> "FrameWork":
        """Read the frame's passes, hash what decides its pixels and, when the output is
        current, drop the passes (``passes`` None: skipped).

        The hash covers the render fingerprint (model file, pixel options, resolution),
        the frame's coefficients after smoothing and the canonical passes the model reads
        (their pixel values, not the EXR file: Blender writes the render time into every
        header, issue 13.4). File work only (runs on the I/O thread). Raises
        ShotFormatError when shot.json was replaced since the run started.
        """
        from ..contract.shot.passes import read_passes

        path = self.output_path(frame)
        passes = read_passes(self.shot, frame, self.shot_folder, names=self.read_names)
        if _identity(self.shot_folder / "shot.json") != self.shot_identity:
            raise ShotFormatError(
                "changed while this render was running (another export replaced the shot?): stopped before this "
                "frame; the frames already written belong to the shot as it was", file=self.shot_folder / "shot.json",
                frame=frame)
        digest = frame_hash(self.fingerprint, self.coefficients[frame].tobytes(), *array_parts(passes))
        if not self.options.force and self.manifest.is_current(frame, path, digest):
            return FrameWork(frame, path, digest, None)
        return FrameWork(frame, path, digest, passes)

    def synthesise(self, work: "FrameWork"):
        """The model's part: RGBA [H, W, 4] float32 for a prepared frame."""
        rgba = self.model.render(work.passes, self.coefficients[work.frame], frame=work.frame)
        if self.options.stabilise_colour:
            from .colour_stabiliser import stabilise

            chromaticity, luminance = self.colour_reference()
            rgba = stabilise(rgba, work.passes["regions"], chromaticity,
                             luminance if self.options.stabilise_brightness else None)
        return rgba

    def colour_reference(self):
        """(chromaticity [3], luminance): the shot's reference skin colour (None, None: no
        sample frame shows skin) from the frames ``contract.frames.colour_reference_frames``
        picks from the whole shot, so that every chunk of the shot gets the same one: computed
        on first use, or read from the output folder where another chunk of the same render
        left it (:func:`.colour_stabiliser.shared_reference`)."""
        if self._colour_reference is None:
            from ..contract.frames import colour_reference_frames
            from ..contract.shot.passes import read_passes
            from .colour_stabiliser import reference, shared_reference, skin_colour

            samples = colour_reference_frames(self.shot.frame_numbers())
            passes = {}
            for frame in samples:
                try:
                    passes[frame] = read_passes(self.shot, frame, self.shot_folder, names=self.read_names)
                except ShotFormatError as error:
                    raise ShotFormatError(f"{error.reason} (--stabilise-colour takes its reference from frames "
                                          f"{', '.join(map(str, samples))}, whose passes must exist; a farm job's prepare step "
                                          "exports them when given --stabilise-colour)", file=error.file,
                                          frame=frame, field=error.field) from error
            key = frame_hash(self.fingerprint, samples,
                             *[part for f in samples for part in (self.coefficients[f].tobytes(), *array_parts(passes[f]))])

            def compute():
                return reference([skin_colour(self.model.render(passes[f], self.coefficients[f], frame=f), passes[f]["regions"])
                                  for f in samples])

            self._colour_reference = shared_reference(self.out, key, compute)
        return self._colour_reference

    def store(self, work: "FrameWork", rgba) -> Path:
        """Write the frame (temporary name, then rename) and record it in the manifest.
        Full or read-only storage is a NeuralFaceError naming the frame; nothing is left
        half-written (the temporary file is removed)."""
        try:
            write_frame(work.path, rgba, self.options.image_format, self.options.bit_depth)
            self.manifest.record(work.frame, work.path, work.digest)
        except (OSError, NeuralFaceError) as error:
            cause = error if isinstance(error, OSError) else error.__cause__  # images words a PermissionError already
            if not isinstance(cause, OSError):
                raise
            raise storage_error(cause, work.path, f"cannot write frame {work.frame}") from error
        return work.path

    def render_frame(self, frame):
        """Render ``frame`` unless the manifest says its output is current; returns the
        path written, or None when skipped. (One frame, no overlap.)"""
        work = self.prepare(frame)
        if work.passes is None:
            return None
        return self.store(work, self.synthesise(work))


@dataclass
class FrameWork:
    """One frame between the I/O thread and the model."""

    frame: int
    path: Path  # the output file
    digest: str  # hash of everything that decides its pixels (the manifest's record)
    passes: dict | None  # canonical passes; None when the existing output is current


class InPlace:
    """Stands in for the I/O thread's executor: runs each call at once, same futures."""

    def submit(self, function, *args):
        from concurrent.futures import Future

        future = Future()
        try:
            future.set_result(function(*args))
        except Exception as error:  # noqa: BLE001 - handed to whoever asks for the result, as a thread would
            future.set_exception(error)
        return future

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def io_thread_helps(model) -> bool:
    """Whether reading/writing on a separate thread can run beside the model: on a GPU, or
    when torch uses fewer threads than the CPU has cores. Measured on a 2-core CPU with torch
    on both cores, the extra thread made the loop slower (119 vs 111 ms/frame,
    ``tools/bench_pipeline.py``), so there the steps run one after another."""
    import torch

    return model.device.type != "cpu" or (os.cpu_count() or 1) > torch.get_num_threads()


def render_frames(job, renderer, overlap=None):
    """Render ``renderer.frames`` under ``job``. With ``overlap`` (default:
    :func:`io_thread_helps`), frame i is synthesised on this thread while one I/O thread
    writes frame i-1 and reads frame i+1; without, the same steps run in turn. Each frame
    is reported (in order) once its file is complete; a cancel or an error still completes
    and reports the frame already synthesised."""
    from concurrent.futures import ThreadPoolExecutor

    frames = renderer.frames
    if overlap is None:
        overlap = io_thread_helps(renderer.model)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neural-face-io") if overlap else InPlace()
    with executor as io:
        prepared = {}  # frame -> future of renderer.prepare
        pending = []  # at most one (work, future of renderer.store)

        def prefetch(index):
            if index < len(frames):
                prepared[frames[index]] = io.submit(renderer.prepare, frames[index])

        def report_pending():
            while pending:
                work, future = pending.pop()
                job.frame_done(work.frame, path=str(future.result()))

        prefetch(0)
        try:
            for index, frame in enumerate(job.frames(frames)):
                work = prepared.pop(frame).result()
                prefetch(index + 1)
                if work.passes is None:
                    report_pending()
                    job.frame_done(frame, path=str(work.path), skipped=True)
                    continue
                rgba = renderer.synthesise(work)
                report_pending()
                pending.append((work, io.submit(renderer.store, work, rgba)))
        finally:
            report_pending()


def render_shot(options: RenderOptions, reporter=None):
    """Render under the worker protocol; returns the exit code (0, 1, 2 or 3)."""
    job = Job("render", reporter)
    renderer = None
    try:
        with job:
            renderer = ShotRenderer(options)
            job.reporter = renderer.chunk.log(job.reporter)  # from here on every event also goes to the chunk's log
            job.start(len(renderer.frames), renderer.frames, chunk=renderer.chunk.name, **renderer.start_fields())
            for message in renderer.warnings:
                job.warning(message)
            for message in renderer.chunk.warnings:
                job.warning(message)
            render_frames(job, renderer)
    finally:
        job.reporter.close()
        if renderer is not None:
            renderer.chunk.close()
    return job.exit_code
