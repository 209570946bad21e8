"""``python -m neural_core render SHOT``: one RGBA image per frame of a shot folder."""

from ..contract.frames import DEFAULT_NAME
from ..contract.looks import look_argument
from ..worker.pipeline import RenderOptions, render_shot

HELP = "render a shot folder into an RGBA image sequence (see docs/worker-protocol.md)"


def add_pixel_arguments(parser):
    """The options that decide a frame's pixels (what :func:`render_options` reads besides the
    shot, output, model, frames and device), shared by ``render`` and ``farm ray``."""
    parser.add_argument("--format", dest="image_format", choices=("png", "exr"), default="png",
                        help="png: sRGB, straight alpha; exr: linear half float, premultiplied alpha")
    parser.add_argument("--depth", dest="bit_depth", type=int, choices=(8, 16), default=8, help="PNG bits per channel")
    parser.add_argument("--appearance", type=look_argument, default=0,
                        help="appearance seed (skin, lighting), fixed for the shot; 0 = the model's median look; 'mean' = the mean "
                             "of a model's per-frame appearance codes (actor models; 0 means the same there); "
                             "'typical' = the training photo's look nearest that mean, 'frame:N' = training frame N's (actor models)")
    parser.add_argument("--appearance-frame", type=int, default=None, metavar="N",
                        help="actor models: the appearance (lighting, exposure) learnt for training frame N (0-based)")
    parser.add_argument("--smoothing", type=float, default=0.0,
                        help="temporal filter on the coefficients: Gaussian sigma in frames (0 = off)")
    parser.add_argument("--truncation", dest="truncation_psi", type=float, default=1.0, help="truncation psi")
    parser.add_argument("--stabilise-colour", action="store_true",
                        help="hold the skin's colour to the shot's reference, the same in every chunk (needs the regions "
                             "pass; docs/rendering.md)")
    parser.add_argument("--stabilise-brightness", action="store_true",
                        help="also hold the skin's mean brightness to the reference (removes the model's flicker and any "
                             "real change of light: for shots lit the same throughout; implies --stabilise-colour)")
    parser.add_argument("--name", default=DEFAULT_NAME, help="file name pattern; '#' = padded frame number")
    parser.add_argument("--force", action="store_true", help="render every frame, even those already current")


def add_arguments(parser):
    parser.add_argument("shot", help="shot folder (with shot.json)")
    parser.add_argument("--model", default="default", help="'default' (bundled model) or a checkpoint path")
    parser.add_argument("--frames", default=None, help="frames to render, e.g. 1-48 or 1,5,10-12 (default: all)")
    parser.add_argument("--out", default=None, help="output folder (default: SHOT/neural)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    add_pixel_arguments(parser)
    parser.add_argument("--threads", type=thread_count, default=0,
                        help="CPU threads for the model (default 0: OMP_NUM_THREADS, else every usable core); "
                             "idle threads sleep, so a busy machine slows the worker only in proportion")
    parser.add_argument("--json", action="store_true", default=None,
                        help="JSON-lines progress (default when stdout is not a terminal)")


def thread_count(text):
    """--threads: 0 (automatic) or a positive number."""
    count = int(text)
    if count < 0:
        raise ValueError(text)
    return count


def render_options(args):
    """The RenderOptions of parsed render arguments (also ``farm ray``'s, which takes the same)."""
    from pathlib import Path

    from ..contract.errors import NeuralFaceError

    appearance = args.appearance
    if args.appearance_frame is not None:
        if args.appearance != 0:
            raise NeuralFaceError("give --appearance or --appearance-frame, not both")
        appearance = f"frame:{args.appearance_frame}"  # contract/looks.py
    return RenderOptions(
        shot=args.shot, out=args.out or str(Path(args.shot) / "neural"), model=args.model, frames=args.frames,
        image_format=args.image_format, bit_depth=args.bit_depth, device=args.device, appearance=appearance,
        smoothing=args.smoothing, truncation_psi=args.truncation_psi, name=args.name, force=args.force,
        stabilise_colour=args.stabilise_colour, stabilise_brightness=args.stabilise_brightness,
    )


def run(args):
    from ..contract.protocol import make_reporter
    from ..worker.threads import prepare_cpu_threads, use_cpu_threads

    # before torch is imported: its OpenMP runtime reads the thread count and wait policy once
    use_cpu_threads(prepare_cpu_threads(args.threads))
    return render_shot(render_options(args), make_reporter(args.json))
