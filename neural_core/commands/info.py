"""``python -m neural_core info CHECKPOINT``: what a generator checkpoint holds."""

import json

HELP = "Describe a model file (a conditional face model, or a generator: ours, rosinality .pt, NVlabs .pkl)."


def add_arguments(parser):
    parser.add_argument("checkpoint", help="generator file: .safetensors, rosinality .pt or NVlabs .pkl")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def describe_conditional(path) -> dict:
    """Summary of a Neural Face conditional model (e.g. the bundled default model)."""
    from ..face_model.checkpoint import load_conditional

    model = load_conditional(path, device="cpu")
    config = model.config
    return {
        "path": str(path),
        "source_format": "neural_face.conditional",
        "resolution": config.generator.resolution,
        "num_ws": config.generator.num_ws,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tensors": len(model.state_dict()),
        "config": config.generator.to_dict(),
        "info": {"coefficients": len(config.coefficient_names), "passes": list(config.encoder.passes),
                 **model.info},
    }


def describe(path) -> dict:
    """Plain-data summary of a checkpoint; builds the network, so every tensor shape is checked."""
    from ..generator.checkpoints import build_generator, read_checkpoint

    from ..face_model.checkpoint import is_face_model

    if is_face_model(path):
        return describe_conditional(path)
    checkpoint = read_checkpoint(path)
    config = checkpoint.config
    parameters = sum(p.numel() for p in build_generator(checkpoint).parameters())
    return {
        "path": str(checkpoint.path),
        "source_format": checkpoint.source_format,
        "resolution": config.resolution,
        "num_ws": config.num_ws,
        "parameters": parameters,
        "tensors": len(checkpoint.state_dict),
        "config": config.to_dict(),
        "info": checkpoint.info,
    }


def run(args) -> int:
    summary = describe(args.checkpoint)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    config = summary["config"]
    print(f"file           {summary['path']}")
    print(f"source format  {summary['source_format']}")
    print(f"resolution     {summary['resolution']} x {summary['resolution']}, {config['img_channels']} channels")
    print(f"latents        z_dim {config['z_dim']}, w_dim {config['w_dim']}, c_dim {config['c_dim']}, num_ws {summary['num_ws']}")
    print(f"mapping        {config['mapping_layers']} layers, lr multiplier {config['mapping_lr_multiplier']}")
    print("channels       " + ", ".join(f"{r}:{c}" for r, c in config["channels"].items()))
    print(f"conv clamp     {config['conv_clamp']}")
    print(f"parameters     {summary['parameters']:,} (trainable; {summary['tensors']} tensors with noise maps and w_avg)")
    for key, value in summary["info"].items():
        print(f"{key:<14} {json.dumps(value, default=str)}")
    return 0
