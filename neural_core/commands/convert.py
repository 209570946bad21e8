"""``python -m neural_core convert IN OUT.safetensors``: any generator checkpoint to ours."""

from pathlib import Path

from ..contract.errors import NeuralFaceError

HELP = "Convert a generator checkpoint (rosinality .pt, NVlabs .pkl or safetensors) to our safetensors format."


def add_arguments(parser):
    parser.add_argument("source", help="input checkpoint")
    parser.add_argument("output", help="output file, must end in .safetensors")
    parser.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")


def convert(source, output, force=False):
    """Read ``source``, build the network (checks every shape), write ``output``.

    Returns the loaded :class:`Generator`. Only plain data is written: weights and JSON.
    """
    from ..generator.checkpoints import build_generator, read_checkpoint, save_generator

    output = Path(output)
    if output.suffix != ".safetensors":
        raise NeuralFaceError(f"{output}: the output name must end in .safetensors")
    if output.exists() and not force:
        raise NeuralFaceError(f"{output}: already exists (use --force to overwrite)")
    if not output.parent.is_dir():
        raise NeuralFaceError(f"{output.parent}: no such folder")
    generator = build_generator(read_checkpoint(source))
    save_generator(generator, output)
    return generator


def run(args) -> int:
    generator = convert(args.source, args.output, args.force)
    config = generator.config
    print(f"wrote {args.output}: {generator.source_format} -> neural_face, {config.resolution} px, num_ws {config.num_ws}")
    return 0
