"""The report step: ``report/contact_sheet.png``, one row per shown frame (Pillow only).

Columns: the photo crop | the crop with MediaPipe's landmarks (red) and the fitted head's
projected vertices (green) | the build's passes (normal, depth, regions) when the build is
done | the trained model's output at the fitted values (its mean appearance code) when
the training is done. Rows: up to ``report_rows`` shot frames, evenly spaced.
"""

import json

import numpy as np

from ...contract.atomic import write_atomically
from ..project import digest, file_digest, storage_errors
from . import up_to_date
from .detect import load_landmarks

THUMB = 192  # cell side, pixels
HEADER = 18  # header row height, pixels
PASS_COLUMNS = ("normal", "depth", "regions")


def chosen_frames(count, rows):
    return sorted(set(np.linspace(1, count, min(count, rows)).round().astype(int).tolist()))


def thumbnail(array):
    from PIL import Image

    image = Image.fromarray(np.asarray(array, dtype=np.uint8)).convert("RGB")
    return image.resize((THUMB, THUMB), Image.LANCZOS) if image.size != (THUMB, THUMB) else image


def overlay(crop, detected, fitted, size):
    """The crop's thumbnail with detected (red) and fitted (green) points, crop pixels -> cell."""
    from PIL import ImageDraw

    image = thumbnail(crop)
    draw = ImageDraw.Draw(image)
    scale = THUMB / size
    for points, colour in ((detected, (255, 60, 60)), (fitted, (60, 255, 60))):
        for x, y in np.asarray(points)[:468] * scale:
            draw.rectangle((float(x) - 0.5, float(y) - 0.5, float(x) + 0.5, float(y) + 0.5), fill=colour)
    return image


def pass_images(passes):
    """{column: RGB uint8 [H, W, 3]} of canonical passes."""
    out = {}
    mask = np.asarray(passes.get("mask", np.ones(1)), dtype=np.float32) > 0.5
    if "normal" in passes:
        normal = np.clip((np.asarray(passes["normal"]) + 1.0) * 127.5, 0, 255).astype(np.uint8)
        out["normal"] = normal * mask[..., None] if mask.shape == normal.shape[:2] else normal
    if "depth" in passes:
        depth = np.asarray(passes["depth"], dtype=np.float64)
        on = mask & np.isfinite(depth) if mask.shape == depth.shape else np.isfinite(depth)
        grey = np.zeros(depth.shape)
        if on.any():
            near, far = np.percentile(depth[on], [1, 99])
            grey[on] = np.clip((far - depth[on]) / max(far - near, 1e-6), 0, 1) * 215 + 40
        out["depth"] = np.repeat(grey.astype(np.uint8)[..., None], 3, 2)
    if "regions" in passes:
        ids = np.rint(np.asarray(passes["regions"])).astype(np.int64)
        palette = np.random.default_rng(7).integers(60, 256, (max(int(ids.max()) + 1, 1), 3)).astype(np.uint8)
        out["regions"] = np.where((ids >= 0)[..., None], palette[np.clip(ids, 0, None)], 0).astype(np.uint8)
    return out


def model_outputs(context, sample, frames):
    """{frame: RGB uint8} rendered by the trained model, or {} (with a warning) when it cannot."""
    from PIL import Image

    from ...contract.protocol import Reporter
    from ...worker.pipeline import RenderOptions, render_shot

    class Quiet(Reporter):
        def __init__(self):
            self.errors = []

        def emit(self, event, **fields):
            if event == "error":
                self.errors.append(fields.get("message"))

    out_dir = context.actor.folder("report") / "model"
    quiet = Quiet()
    options = RenderOptions(shot=str(sample / "shot"), out=str(out_dir), model=str(context.actor.folder("train") / "ema.safetensors"),
                            frames=",".join(str(f) for f in frames), appearance="mean", name="model_####")
    if render_shot(options, quiet) != 0:
        context.job.warning(f"the model's output is not in the report: {'; '.join(map(str, quiet.errors)) or 'render failed'}")
        return {}
    images = {}
    for frame in frames:
        path = out_dir / f"model_{frame:04d}.png"
        if path.is_file():
            rgba = Image.open(path).convert("RGBA")
            canvas = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
            canvas.alpha_composite(rgba)
            images[frame] = np.asarray(canvas.convert("RGB"))
    if len(images) < len(frames):
        context.job.warning(f"the model rendered {len(images)} of {len(frames)} frame(s) into {out_dir}")
    return images


def run(context):
    from PIL import Image, ImageDraw

    from ...contract.shot import read_shot

    actor, job = context.actor, context.job
    actor.require("fit")
    inputs = actor.inputs("report")
    if actor.is_done("report"):
        return up_to_date(context, "report", actor.state("report").get("summary"))
    fit_folder = actor.folder("fit")
    shot = read_shot(fit_folder / "shot", check_passes=False)
    frames = chosen_frames(len(shot.frames), actor.setting("report_rows"))
    actor.begin("report", inputs)
    job.start(len(frames), frames, step="report", actor=str(actor.root))
    landmarks = load_landmarks(actor)
    table = {entry["frame"]: entry for entry in json.loads((fit_folder / "frames.json").read_text())["frames"]}
    sample, built = None, None
    if actor.is_done("build"):
        from .build import sample_folders

        found = sample_folders(actor)
        sample = found[0] if found else None
        built = read_shot(sample / "shot", check_passes=False) if sample else None
    columns = ["photo", "fit (red: MediaPipe, green: fitted)"]
    if built is not None:
        columns += [c for c in PASS_COLUMNS if c in built.passes]
    rendered = model_outputs(context, sample, frames) if built is not None and actor.is_done("train") else {}
    if rendered:
        columns.append("model")
    sheet = Image.new("RGB", (THUMB * len(columns), HEADER + THUMB * len(frames)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(columns):
        draw.text((c * THUMB + 4, 3), title, fill=(230, 230, 230))
    for r, number in enumerate(job.frames(frames)):
        entry, record = table[number], shot.frame(number)
        crop = np.asarray(Image.open(fit_folder / "crops" / f"{number:04d}.png").convert("RGB"))
        x0, y0, side = entry["crop"]
        detected = (landmarks["points"][entry["input"]] - (x0, y0)) * (shot.resolution[0] / side)
        cells = [thumbnail(crop), overlay(crop, detected, record.landmarks, shot.resolution[0])]
        if built is not None and any(f.frame == number for f in built.frames):
            from ...contract.shot.passes import read_passes

            names = [n for n in ("normal", "depth", "regions", "mask") if n in built.passes]
            images = pass_images(read_passes(built, number, sample / "shot", names=names))
            cells += [thumbnail(images[c]) for c in columns[2:] if c in images]
        if rendered.get(number) is not None:
            cells.append(thumbnail(rendered[number]))
        y = HEADER + r * THUMB
        for c, cell in enumerate(cells):
            sheet.paste(cell, (c * THUMB, y))
        draw.text((4, y + 3), f"{number}: {entry.get('label', '')}", fill=(255, 255, 0))
        job.frame_done(number)
    path = actor.folder("report") / "contact_sheet.png"

    def write(temporary):
        with open(temporary, "wb") as handle:
            sheet.save(handle, format="PNG")

    with storage_errors():
        write_atomically(path, write)
    summary = {"rows": len(frames), "columns": columns}
    actor.finish("report", inputs, digest([file_digest(path)]), summary)
    context.note(f"actor report: {path}")
