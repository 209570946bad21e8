#!/usr/bin/env python3
"""Pack an actor folder's training inputs small enough for a GPU call, and unpack them there.

    .venv/bin/python tools/gpu_pack_actor.py pack ACTOR_DIR PACK_DIR
    python3 tools/gpu_pack_actor.py unpack PACK_DIR ACTOR_DIR      (on the GPU machine)

A device call carries at most 64 MiB with the repository (docs/training.md), and a 256 px
build is about 460 MB, nearly all float32 EXR passes. The pack keeps ``actor.json``,
``state/`` (less ``train.json``: the unpacked actor trains a new run) and the build with
its passes quantised, each frame as three lossless WebP images plus a JPEG target:

- normal: X, Y, Z as round(127 n) + 128 (error <= 0.004);
- albedo: sRGB-like 8 bit (value ** (1 / 2.2));
- depth and indices: depth in 0.1 mm steps as two bytes (0 = nothing hit), the material
  index, the object index x 255;
- target: JPEG quality 95.

About 60 KB per frame (36 MB for 600 frames at 256 px; the JSON records gzipped). It is LOSSY: use it for comparing
training recipes with one another on a GPU, not for the figures in docs/actor.md, which
come from the actor's own build.
"""

import argparse
import gzip
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEPTH_STEP = 1e-4  # metres per depth unit in the pack
NOTHING_HIT = 1e10  # what Cycles writes as the depth of the background


def _passes(build: Path) -> tuple:
    """(the folder of the pass EXRs, {canonical pass: its EXR channel names}) from the build's shot."""
    from neural_core.contract.shot.folder import read_shot

    shot = read_shot(build / "shot", check_passes=False)
    if set(shot.passes) != {"depth", "normal", "albedo", "mask", "regions"}:
        raise SystemExit(f"{build}: passes {sorted(shot.passes)}, the pack knows depth normal albedo mask regions")
    return build / "shot" / shot.passes_folder, {name: info.channel_names() for name, info in shot.passes.items()}


def pack(actor: Path, out: Path) -> None:
    from PIL import Image

    from neural_core.contract.shot.exr import read_exr_channels
    from neural_core.contract.shot.passes import BACKGROUND_DEPTH

    build = actor / "build"
    passes, names = _passes(build)
    shutil.rmtree(out, ignore_errors=True)
    (out / "passes").mkdir(parents=True)
    (out / "targets").mkdir()
    shutil.copy2(actor / "actor.json", out / "actor.json")
    shutil.copytree(actor / "state", out / "state", ignore=shutil.ignore_patterns("train.json"))
    for name in ("frames.json", "shot/shot.json"):  # shot.json holds every frame's landmarks: 13 MB for 600
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.gz").write_bytes(gzip.compress((build / name).read_bytes()))
    for exr in sorted(passes.glob("*.exr")):
        channels = read_exr_channels(exr, [c for n in names.values() for c in n])
        normal = np.stack([channels[c] for c in names["normal"]], axis=-1)
        albedo = np.stack([channels[c] for c in names["albedo"]], axis=-1)
        depth = channels[names["depth"][0]].astype(np.float64)
        hit = depth < BACKGROUND_DEPTH
        units = np.where(hit, np.rint(depth / DEPTH_STEP), 0)
        if hit.any() and (units[hit].max() > 65535 or units[hit].min() < 1):
            raise SystemExit(f"{exr}: depth outside 0.1 mm .. 6.55 m")
        units = units.astype(np.uint16)
        regions = np.rint(channels[names["regions"][0]])
        mask = channels[names["mask"][0]] > 0.5
        stem = exr.stem
        Image.fromarray((np.rint(np.clip(normal, -1, 1) * 127) + 128).astype(np.uint8)).save(
            out / "passes" / f"{stem}_n.webp", lossless=True, method=6)
        Image.fromarray(np.rint(np.clip(albedo, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)).save(
            out / "passes" / f"{stem}_a.webp", lossless=True, method=6)
        packed = np.stack([units >> 8, units & 255, regions.astype(np.uint16) * 16 + mask], axis=-1)
        Image.fromarray(packed.astype(np.uint8)).save(out / "passes" / f"{stem}_d.webp", lossless=True, method=6)
    for target in sorted((build / "targets").glob("*.png")):
        Image.open(target).convert("RGB").save(out / "targets" / f"{target.stem}.jpg", quality=95)


def unpack(pack_dir: Path, actor: Path) -> None:
    from PIL import Image

    from neural_core.contract.shot.exr import write_exr_channels

    build = actor / "build"
    shutil.rmtree(actor, ignore_errors=True)
    (build / "targets").mkdir(parents=True)
    shutil.copy2(pack_dir / "actor.json", actor / "actor.json")
    shutil.copytree(pack_dir / "state", actor / "state")
    for name in ("frames.json", "shot/shot.json"):
        (build / name).parent.mkdir(parents=True, exist_ok=True)
        (build / name).write_bytes(gzip.decompress((pack_dir / f"{name}.gz").read_bytes()))
    passes, names = _passes(build)
    passes.mkdir(parents=True)
    for normal_file in sorted((pack_dir / "passes").glob("*_n.webp")):
        stem = normal_file.name[: -len("_n.webp")]
        normal = (np.asarray(Image.open(normal_file), dtype=np.float32) - 128) / 127
        albedo = (np.asarray(Image.open(pack_dir / "passes" / f"{stem}_a.webp"), dtype=np.float32) / 255) ** 2.2
        packed = np.asarray(Image.open(pack_dir / "passes" / f"{stem}_d.webp"), dtype=np.uint16)
        units = packed[..., 0] * 256 + packed[..., 1]
        depth = np.where(units > 0, units * DEPTH_STEP, NOTHING_HIT).astype(np.float32)
        channels = {c: normal[..., i] for i, c in enumerate(names["normal"])}
        channels.update({c: albedo[..., i] for i, c in enumerate(names["albedo"])})
        channels[names["depth"][0]] = depth
        channels[names["regions"][0]] = (packed[..., 2] >> 4).astype(np.float32)
        channels[names["mask"][0]] = (packed[..., 2] & 1).astype(np.float32)
        write_exr_channels(passes / f"{stem}.exr", channels)
    for target in sorted((pack_dir / "targets").glob("*.jpg")):
        Image.open(target).convert("RGB").save(build / "targets" / f"{target.stem}.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("verb", choices=("pack", "unpack"))
    parser.add_argument("source", type=Path)
    parser.add_argument("destination", type=Path)
    args = parser.parse_args(argv)
    (pack if args.verb == "pack" else unpack)(args.source, args.destination)
    return 0


if __name__ == "__main__":
    sys.exit(main())
