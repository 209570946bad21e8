"""Photos as footage: :class:`PhotoFolder` and :func:`load_photo` (footage.py describes
the rules: JPEG and PNG only, EXIF orientation, every mode to 8-bit RGB) and the focal
length an EXIF block gives."""

import math
import re
from pathlib import Path

import numpy as np

from .footage import DIAGONAL_35MM, PHOTO_EXTENSIONS, FocalHint, FootageError, Frame, positive_number

PILLOW_FORMATS = ["JPEG", "PNG"]  # everything else Pillow knows is refused (MPO opens as JPEG)
ALPHA_BACKGROUND = 128  # grey level transparent pixels are composited over
# EXIF tags (Exif sub-IFD unless noted)
_EXIF_IFD = 0x8769
_FOCAL_LENGTH, _FOCAL_35MM = 0x920A, 0xA405
_PLANE_XRES, _PLANE_YRES, _PLANE_UNIT = 0xA20E, 0xA20F, 0xA210
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
_PLANE_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # EXIF FocalPlaneResolutionUnit; 2 (inch) is the default


def load_photo(path, index=0):
    """Read one photo as an upright 8-bit RGB :class:`Frame`; :class:`FootageError` if unreadable."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path, formats=PILLOW_FORMATS) as image:
            image.load()  # decode now: a truncated file fails here, not later
            focal = _focal_from_exif(image.getexif(), image.size)
            upright = ImageOps.exif_transpose(image)
            rgb = _to_rgb8(upright)
    except FileNotFoundError:
        raise FootageError("no such file", file=path) from None
    except IsADirectoryError:
        raise FootageError("is a folder, not a photo", file=path) from None
    except PermissionError:
        raise FootageError("permission denied", file=path) from None
    except UnidentifiedImageError:
        raise FootageError("not a JPEG or PNG image (or not one Pillow can read)", file=path) from None
    except Image.DecompressionBombError as error:
        raise FootageError(f"image too large to read safely: {error}", file=path) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise FootageError(f"cannot read the image (truncated or corrupt?): {error}", file=path) from None
    return Frame(source=path, index=index, time=None, image=rgb, focal=focal)


def _to_rgb8(image):
    """Any Pillow image -> RGB uint8 [H, W, 3]. 16-bit and 32-bit integer greyscale
    ("I;16*", "I") are scaled from 0..65535; alpha is composited over grey 128."""
    from PIL import Image

    mode = image.mode
    if mode.startswith("I"):
        values = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        grey = ((values * 255 + 32767) // 65535).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float64) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if "A" in mode or "a" in mode or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (ALPHA_BACKGROUND,) * 3 + (255,))
        canvas.alpha_composite(rgba)
        image = canvas
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _focal_from_exif(exif, size):
    """FocalLengthIn35mmFilm, else FocalLength with the sensor size from the focal-plane
    resolution tags; None when neither is there (or the values are implausible)."""
    sub = exif.get_ifd(_EXIF_IFD)
    focal_mm = positive_number(sub.get(_FOCAL_LENGTH))
    focal_35 = positive_number(sub.get(_FOCAL_35MM))
    if focal_35 is not None and 4.0 <= focal_35 <= 2000.0:
        return FocalHint(focal_35, "EXIF FocalLengthIn35mmFilm", focal_mm)
    xres, yres = positive_number(sub.get(_PLANE_XRES)), positive_number(sub.get(_PLANE_YRES))
    unit_mm = _PLANE_UNIT_MM.get(int(positive_number(sub.get(_PLANE_UNIT)) or 2))
    if focal_mm is None or xres is None or unit_mm is None:
        return None
    width = positive_number(sub.get(_PIXEL_X)) or size[0]
    height = positive_number(sub.get(_PIXEL_Y)) or size[1]
    sensor_diagonal = math.hypot(width / xres * unit_mm, height / (yres or xres) * unit_mm)
    if not 1.0 <= sensor_diagonal <= 100.0:  # cameras do write nonsense here
        return None
    focal_35 = focal_mm * DIAGONAL_35MM / sensor_diagonal
    return FocalHint(focal_35, "EXIF FocalLength + FocalPlaneX/YResolution", focal_mm)


def _natural_key(path):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class PhotoFolder:
    """The photos of a folder (or one photo file), read one at a time.

    ``paths``: the JPEG/PNG files in natural name order (hidden files ignored; other files
    are listed in ``warnings``). Iterating yields a :class:`Frame` per readable photo and
    adds one warning per skipped photo; if none at all can be read it raises.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._listing_warnings = []
        self.skipped = []  # (path, reason) of the last iteration
        if self.path.is_file():
            self.paths = [self.path]
            return
        if not self.path.is_dir():
            raise FootageError("no such folder or photo", file=self.path)
        files = sorted((p for p in self.path.iterdir() if p.is_file() and not p.name.startswith(".")), key=_natural_key)
        self.paths = [p for p in files if p.suffix.lower() in PHOTO_EXTENSIONS]
        others = [p.name for p in files if p.suffix.lower() not in PHOTO_EXTENSIONS]
        if not self.paths:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            found = f" (it holds only: {shown})" if others else " (it is empty)"
            raise FootageError(f"no JPEG or PNG photos in this folder{found}", file=self.path)
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            self._listing_warnings.append(f"{self.path}: ignored {len(others)} file(s) that are not JPEG or PNG: {shown}")

    @property
    def warnings(self):
        return self._listing_warnings + [f"skipped {path}: {reason}" for path, reason in self.skipped]

    def __len__(self):
        return len(self.paths)

    def frame(self, index):
        """Photo ``index`` of ``paths``; raises :class:`FootageError` if it is unreadable."""
        if not 0 <= index < len(self.paths):
            raise FootageError(f"photo {index} is out of range (0..{len(self.paths) - 1})", file=self.path)
        return load_photo(self.paths[index], index)

    def __iter__(self):
        self.skipped = []
        for index, path in enumerate(self.paths):
            try:
                frame = load_photo(path, index)
            except FootageError as error:
                self.skipped.append((path, error.reason))
                continue
            yield frame
        if len(self.skipped) == len(self.paths):
            reasons = "; ".join(f"{p.name}: {r}" for p, r in self.skipped[:5])
            raise FootageError(f"none of the {len(self.paths)} photo(s) could be read ({reasons})", file=self.path)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
