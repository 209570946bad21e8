"""The held-out contact sheet: normal | relative depth | regions | output | target per frame."""

from pathlib import Path

import numpy as np

from .rendering import on_grey

# region colours of the sheet (skin, lips, sclera, iris, brows, mouth interior, pupil)
PALETTE = np.array(
    [[0.85, 0.65, 0.55], [0.8, 0.2, 0.25], [0.95, 0.95, 0.95], [0.2, 0.4, 0.8], [0.3, 0.2, 0.1], [0.5, 0.05, 0.1], [0, 0, 0]]
)
PLANE_CHANNELS = {"normal": 3, "depth": 1, "mask": 1, "albedo": 3}  # regions: num_regions


def contact_sheet(items, path, encoder, tile=128):
    """Write a PNG of ``items`` (planes [C, R, R], rgba [4, R, R], target [3, R, R] in
    [0, 1]) at ``path``: five ``tile``-pixel tiles per item, two items per row.
    ``encoder``: the model's ``config.encoder`` (its pass order and region count)."""
    from PIL import Image

    offsets, at = {}, 0
    for name in encoder.passes:
        offsets[name] = at
        at += encoder.num_regions if name == "regions" else PLANE_CHANNELS[name]
    units = []
    for planes, rgba, target in items:
        normal = planes[offsets["normal"] : offsets["normal"] + 3].transpose(1, 2, 0) * 0.5 + 0.5
        depth = np.repeat(np.clip(0.5 - planes[offsets["depth"]] * 0.25, 0, 1)[..., None], 3, -1)
        onehot = planes[offsets["regions"] : offsets["regions"] + encoder.num_regions]
        regions = np.tensordot(onehot.transpose(1, 2, 0), PALETTE[: encoder.num_regions], axes=1)
        output = on_grey(rgba[None])[0] / 255.0
        tiles = [normal, depth, regions, output, target.transpose(1, 2, 0)]
        units.append(
            np.concatenate(
                [np.asarray(Image.fromarray((np.clip(t, 0, 1) * 255).astype(np.uint8)).resize((tile, tile), Image.LANCZOS)) for t in tiles],
                axis=1,
            )
        )
    while len(units) % 2:
        units.append(np.zeros_like(units[0]))
    rows = [np.concatenate([units[i], np.full((tile, 8, 3), 255, np.uint8), units[i + 1]], axis=1) for i in range(0, len(units), 2)]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path, optimize=True)
