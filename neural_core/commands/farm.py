"""``python -m neural_core farm ray SHOT --address HOST:PORT``: a shot's synthesis on a cluster.

One engine today, Ray (docs/farm.md "Ray"); Flamenco and Open Job Description run
``python -m neural_core render --frames`` chunks themselves and need no command here.
Importing this module imports neither Ray nor torch.
"""

from .render import add_pixel_arguments, thread_count

HELP = "render a shot folder on a cluster (farm ray: Ray actors, one model load each; see docs/farm.md)"


def positive_number(text):
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def add_arguments(parser):
    engines = parser.add_subparsers(dest="engine", metavar="ENGINE", required=True)
    ray = engines.add_parser("ray", help="synthesise on a Ray cluster", description=(
        "Synthesise a shot's frames on a Ray cluster: one actor per CPU (or GPU) slot, each loading the model once, "
        "chunks of frames handed out as actors come free; the frames, their names and bits and the resume manifests "
        "are those of 'python -m neural_core render'. A lost node's chunk is rendered again by another actor."))
    ray.add_argument("shot", help="shot folder (with shot.json), on storage every node sees at the same path")
    ray.add_argument("--address", required=True,
                     help="the cluster: HOST:PORT of its head (what 'ray start --head' prints), or 'auto' on a node")
    ray.add_argument("--out", default=None, help="output folder, shared by every node (default: SHOT/neural)")
    ray.add_argument("--frames", default=None, help="frames to render, e.g. 1-480 or 1,5,10-12 (default: all)")
    ray.add_argument("--model", default="default", help="'default' (bundled model) or a checkpoint path every node sees")
    add_pixel_arguments(ray)  # as 'render' takes them
    ray.add_argument("--device", default="auto", help="on each actor: auto (its GPU if it has one), cpu, cuda, ...")
    ray.add_argument("--actors", type=thread_count, default=0,
                     help="actors to start (default 0: as many as the cluster's CPUs, or GPUs, allow)")
    ray.add_argument("--cpus-per-actor", type=positive_number, default=1.0, help="CPUs each actor reserves (default 1)")
    ray.add_argument("--gpus-per-actor", type=float, default=0.0, help="GPUs each actor reserves (default 0)")
    ray.add_argument("--chunk-size", type=thread_count, default=0,
                     help="frames per chunk (default 0: about four chunks per actor, at most 24)")
    ray.add_argument("--threads", type=thread_count, default=0,
                     help="torch CPU threads per actor (default 0: --cpus-per-actor); frames are bit-identical to a "
                          "'render' with the same --threads")
    ray.add_argument("--wait", dest="wait_s", type=positive_number, default=300.0,
                     help="stop when no actor reports anything for this many seconds (default 300)")
    ray.add_argument("--tries", type=thread_count, default=3,
                     help="stop when the actor rendering one chunk is lost this many times in a row (default 3)")
    ray.add_argument("--json", action="store_true", default=None,
                     help="JSON-lines progress (default when stdout is not a terminal)")


def run(args):
    from ..contract.errors import NeuralFaceError
    from ..contract.protocol import make_reporter
    from ..farm.ray_render import RayFarmOptions, render_on_ray
    from .render import render_options

    if args.gpus_per_actor < 0:
        raise NeuralFaceError(f"--gpus-per-actor must be >= 0, got {args.gpus_per_actor}")
    if args.tries < 1:
        raise NeuralFaceError(f"--tries must be at least 1, got {args.tries}")
    options = render_options(args)
    farm = RayFarmOptions(address=args.address, actors=args.actors, cpus_per_actor=args.cpus_per_actor,
                          gpus_per_actor=args.gpus_per_actor, chunk_size=args.chunk_size, threads=args.threads,
                          wait_s=args.wait_s, tries=args.tries)
    return render_on_ray(options, farm, make_reporter(args.json))
