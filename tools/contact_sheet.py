#!/usr/bin/env python3
"""Contact sheet of a rendered shot: per row one frame, columns = passes, neural face, composite.

Usage: ``.venv/bin/python tools/contact_sheet.py SHOT FRAMES_DIR [COMPOSITE_DIR] OUT.png [--rows 8]``
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGION_COLOURS = np.array([[0, 0, 0], [230, 180, 150], [200, 60, 70], [245, 245, 245], [70, 110, 200],
                           [90, 60, 40], [120, 20, 30], [20, 20, 20], [80, 200, 120]], dtype=np.uint8)


def _to_rgb8(image):
    return Image.fromarray(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8))


def pass_tiles(passes):
    """Canonical passes -> displayable tiles (PIL RGB), in column order."""
    mask = passes["mask"] > 0.5
    normal = passes["normal"] * np.array([1.0, -1.0, -1.0])  # camera space, shown facing us
    tiles = {"normal": _to_rgb8(np.where(mask[..., None], normal * 0.5 + 0.5, 0.0))}
    depth = passes["depth"]
    if mask.any():
        near, far = np.percentile(depth[mask], [1, 99])
        shade = np.where(mask, 1.0 - (depth - near) / max(far - near, 1e-6) * 0.8, 0.0)
        tiles["depth"] = _to_rgb8(np.repeat(np.clip(shade, 0, 1)[..., None], 3, axis=-1))
    if "albedo" in passes:
        tiles["albedo"] = _to_rgb8(np.clip(passes["albedo"], 0, 1) ** (1 / 2.2))
    if "regions" in passes:
        ids = np.clip(np.rint(passes["regions"]).astype(int), 0, len(REGION_COLOURS) - 1)
        tiles["regions"] = Image.fromarray(REGION_COLOURS[ids])
    return tiles


def over_grey(path):
    image = Image.open(path).convert("RGBA")
    background = Image.new("RGBA", image.size, (128, 128, 128, 255))
    return Image.alpha_composite(background, image).convert("RGB")


def write_contact_sheet(shot_folder, frames_folder, composite_folder, out, rows=8):
    from neural_core.contract.shot import read_shot
    from neural_core.contract.shot.passes import read_passes

    shot = read_shot(shot_folder)
    numbers = shot.frame_numbers()
    chosen = sorted({numbers[round(i * (len(numbers) - 1) / max(rows - 1, 1))] for i in range(min(rows, len(numbers)))})
    grid = []
    for frame in chosen:
        tiles = pass_tiles(read_passes(shot, frame, shot_folder))
        neural = sorted(Path(frames_folder).glob(f"*{frame:04d}.png"))
        if neural:
            tiles["neural face"] = over_grey(neural[0])
        if composite_folder:
            composite = Path(composite_folder) / f"{frame:04d}.png"
            if composite.is_file():
                tiles["composite"] = Image.open(composite).convert("RGB")
        grid.append((frame, tiles))
    columns = list(grid[0][1])
    width, height = shot.resolution
    label_h, label_w = 18, 56
    sheet = Image.new("RGB", (label_w + width * len(columns), label_h + height * len(grid)), (30, 30, 30))
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(columns):
        draw.text((label_w + c * width + 4, 3), name, fill=(230, 230, 230))
    for r, (frame, tiles) in enumerate(grid):
        draw.text((4, label_h + r * height + height // 2 - 6), f"{frame:04d}", fill=(230, 230, 230))
        for c, name in enumerate(columns):
            if name in tiles:
                sheet.paste(tiles[name].resize((width, height)), (label_w + c * width, label_h + r * height))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial.png")
    sheet.save(partial)
    partial.replace(out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shot")
    parser.add_argument("frames")
    parser.add_argument("rest", nargs="+", help="[COMPOSITE_DIR] OUT.png")
    parser.add_argument("--rows", type=int, default=8)
    args = parser.parse_args(argv)
    composite, out = (args.rest[0], args.rest[1]) if len(args.rest) == 2 else (None, args.rest[0])
    print(write_contact_sheet(args.shot, args.frames, composite, out, args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
