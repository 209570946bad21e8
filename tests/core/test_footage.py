"""neural_core.actor.footage, photos, video: photos (Pillow) and videos (PyAV) as upright RGB frames."""

import io
import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from neural_core.actor.footage import FootageError
from neural_core.actor.input_frames import open_footage
from neural_core.actor.photos import PhotoFolder, load_photo
from neural_core.actor.video import Video
from tests.conftest import ROOT

PHOTOS = ROOT / "tests" / "data" / "photos"
MS = Fraction(1, 1000)


def import_av():
    """PyAV, or a failure that says how to install it (these tests never skip)."""
    try:
        import av
    except ImportError:
        pytest.fail("PyAV is missing: install requirements/actor.txt (python -m pip install --no-deps -r requirements/actor.txt)")
    return av


def quadrants(width=64, height=32):
    """RGB uint8 [height, width, 3]: red, green / blue, white quadrants (JPEG-friendly blocks)."""
    image = np.zeros((height, width, 3), np.uint8)
    h, w = height // 2, width // 2
    image[:h, :w] = (255, 0, 0)
    image[:h, w:] = (0, 255, 0)
    image[h:, :w] = (0, 0, 255)
    image[h:, w:] = (255, 255, 255)
    return image


def save_jpeg(path, array, **exif_fields):
    """``exif_fields``: ``orientation`` (IFD0) and Exif sub-IFD tags by number."""
    exif = Image.Exif()
    if "orientation" in exif_fields:
        exif[0x0112] = exif_fields.pop("orientation")
    sub = exif.get_ifd(0x8769)
    for tag, value in exif_fields.get("sub", {}).items():
        sub[tag] = value
    Image.fromarray(array).save(path, format="JPEG", quality=95, exif=exif.tobytes())
    return path


# -- photos ---------------------------------------------------------------------------
def test_the_test_photos_read_as_rgb_uint8():
    astronaut = load_photo(PHOTOS / "astronaut.jpg")
    assert astronaut.image.shape == (512, 512, 3) and astronaut.image.dtype == np.uint8
    assert astronaut.time is None and astronaut.index == 0 and astronaut.focal is None
    assert load_photo(PHOTOS / "grace_hopper.jpg").image.shape == (600, 512, 3)


# numpy view of the stored pixels as displayed, per EXIF orientation
ORIENTED = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    6: lambda a: np.rot90(a, -1),  # rotate 90 degrees clockwise to display
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTED))
def test_exif_orientation_is_applied(tmp_path, orientation):
    stored = quadrants()
    frame = load_photo(save_jpeg(tmp_path / "rotated.jpg", stored, orientation=orientation))
    expected = ORIENTED[orientation](stored)
    assert frame.image.shape == expected.shape
    assert np.abs(frame.image.astype(int) - expected).mean() < 4


def test_greyscale_and_palette_become_rgb(tmp_path):
    grey = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    image = load_photo(tmp_path / "grey.png").image
    assert image.shape == (8, 64, 3) and all(np.array_equal(image[..., c], grey) for c in range(3))
    Image.fromarray(quadrants()).convert("P").save(tmp_path / "palette.png")
    assert np.array_equal(load_photo(tmp_path / "palette.png").image, quadrants())
    Image.fromarray(quadrants()).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert np.abs(load_photo(tmp_path / "cmyk.jpg").image.astype(int) - quadrants()).mean() < 4


def test_16_bit_png_is_scaled_to_8_bit(tmp_path):
    values = np.array([[0, 257, 257 * 100, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as check:
        assert check.mode.startswith("I")  # really stored as 16-bit
    image = load_photo(tmp_path / "deep.png").image
    assert image.dtype == np.uint8 and image[0, :, 0].tolist() == [0, 1, 100, 255]


def test_alpha_is_composited_over_grey(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:2] = (200, 10, 10, 255)  # opaque red rows, then fully transparent black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cutout.png")
    image = load_photo(tmp_path / "cutout.png").image
    assert image[0, 0].tolist() == [200, 10, 10] and image[3, 3].tolist() == [128, 128, 128]


def test_focal_hint_from_35mm_equivalent(tmp_path):
    frame = load_photo(save_jpeg(tmp_path / "phone.jpg", quadrants(), sub={0xA405: 28, 0x920A: 4.25}))
    assert frame.focal.focal_35mm == 28 and frame.focal.focal_mm == 4.25
    assert "FocalLengthIn35mmFilm" in frame.focal.source
    assert frame.focal.focal_px(4000, 3000) == pytest.approx(28 * 5000 / math.hypot(36, 24))


def test_focal_hint_from_focal_length_and_sensor(tmp_path):
    # a 1/2.3" sensor (6.17 x 4.55 mm) at 4000 x 3000 px, the photo since resized
    sub = {0x920A: 4.25, 0xA210: 4, 0xA20E: 4000 / 6.17, 0xA20F: 3000 / 4.55, 0xA002: 4000, 0xA003: 3000}
    focal = load_photo(save_jpeg(tmp_path / "compact.jpg", quadrants(), sub=sub)).focal
    assert focal.focal_35mm == pytest.approx(4.25 * math.hypot(36, 24) / math.hypot(6.17, 4.55), rel=1e-3)
    assert "FocalPlane" in focal.source
    bogus = {0x920A: 50.0, 0xA210: 2, 0xA20E: 1.0, 0xA20F: 1.0}  # a 1600 m sensor: ignored
    assert load_photo(save_jpeg(tmp_path / "bogus.jpg", quadrants(), sub=bogus)).focal is None
    assert load_photo(save_jpeg(tmp_path / "lens_only.jpg", quadrants(), sub={0x920A: 50.0})).focal is None


def test_truncated_jpeg_is_an_error_naming_the_file(tmp_path):
    data = (PHOTOS / "astronaut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(FootageError, match=r"cut\.jpg.*truncated"):
        load_photo(tmp_path / "cut.jpg")


def test_not_an_image_and_refused_formats(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a photo\n")
    with pytest.raises(FootageError, match=r"notes\.jpg: not a JPEG or PNG"):
        load_photo(tmp_path / "notes.jpg")
    Image.fromarray(quadrants()).save(tmp_path / "really_a_gif.png", format="GIF")
    with pytest.raises(FootageError, match=r"really_a_gif\.png"):
        load_photo(tmp_path / "really_a_gif.png")
    with pytest.raises(FootageError, match=r"missing\.jpg: no such file"):
        load_photo(tmp_path / "missing.jpg")


def test_folder_skips_unreadable_photos_with_a_warning(tmp_path):
    for name in ("IMG_10.png", "IMG_2.png"):
        Image.fromarray(quadrants()).save(tmp_path / name)
    data = (PHOTOS / "astronaut.jpg").read_bytes()
    (tmp_path / "IMG_3.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    folder = open_footage(tmp_path)
    assert isinstance(folder, PhotoFolder)
    assert [p.name for p in folder.paths] == ["IMG_2.png", "IMG_3.jpg", "IMG_10.png"]  # natural order
    frames = list(folder)
    assert [(f.source.name, f.index) for f in frames] == [("IMG_2.png", 0), ("IMG_10.png", 2)]
    assert any("notes.txt" in w for w in folder.warnings)
    assert [w for w in folder.warnings if "IMG_3.jpg" in w and "truncated" in w]
    with pytest.raises(FootageError, match=r"IMG_3\.jpg"):
        folder.frame(1)


def test_empty_or_unreadable_folders_are_errors(tmp_path):
    with pytest.raises(FootageError, match=r"no JPEG or PNG photos in this folder \(it is empty\)"):
        PhotoFolder(tmp_path)
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(FootageError, match=r"no JPEG or PNG photos.*readme\.txt"):
        PhotoFolder(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(FootageError, match=r"none of the 1 photo\(s\) could be read.*broken\.png"):
        list(PhotoFolder(tmp_path))
    with pytest.raises(FootageError, match="no such folder"):
        PhotoFolder(tmp_path / "nowhere")


# -- videos ---------------------------------------------------------------------------
def moving_face(count, size=96):
    """``count`` RGB frames [size, size, 3]: the astronaut photo, translated and zoomed a
    little more every frame (so every frame differs)."""
    photo = Image.open(PHOTOS / "astronaut.jpg").convert("RGB")
    frames = []
    for i in range(count):
        crop = 300 - 4 * i
        left, top = 100 + 3 * i, 40 + 2 * i
        frames.append(np.asarray(photo.resize((size, size), Image.BILINEAR, box=(left, top, left + crop, top + crop))))
    return frames


def write_video(path, frames, *, codec="libx264", rate=25, pts_ms=None, rotation=None, metadata=None, options=None):
    """Encode RGB frames; ``pts_ms``: explicit timestamps in milliseconds (variable rate)."""
    av = import_av()
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        container.metadata.update(metadata or {})
        stream = container.add_stream(codec, rate=None if pts_ms else rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": "8", "bf": "2", **(options or {})}  # several keyframes, reordered B-frames
        if pts_ms:
            stream.time_base = stream.codec_context.time_base = MS
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            if pts_ms:
                frame.pts, frame.time_base = pts_ms[i], MS
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize("name,codec", [("clip.mp4", "libx264"), ("clip.mkv", "libx264"), ("clip.avi", "mpeg4")])
def test_random_access_equals_sequential(tmp_path, monkeypatch, name, codec):
    path = write_video(tmp_path / name, moving_face(30), codec=codec)
    video = open_footage(path)
    assert isinstance(video, Video)
    sequential = list(video)
    assert [f.index for f in sequential] == list(range(30)) == list(video.indices)
    assert all(not np.array_equal(a.image, b.image) for a, b in zip(sequential, sequential[1:]))
    opened = []
    monkeypatch.setattr(video, "_open", lambda original=video._open: opened.append(1) or original())
    order = np.random.default_rng(7).permutation(30).tolist() + [29, 0, 5, 6, 7, 8]
    for k in order:
        frame = video.frame(k)
        assert frame.index == k and frame.time == sequential[k].time
        assert np.array_equal(frame.image, sequential[k].image), f"frame {k}"
    assert opened == []  # every frame came from a seek, none from re-reading the file from its start
    assert video.warnings == []
    video.close()


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_times_come_from_pts(tmp_path, suffix):
    pts_ms = [0, 40, 80, 200, 210, 220, 500, 510, 520, 530] + [600 + 33 * i for i in range(10)]
    path = write_video(tmp_path / f"vfr{suffix}", moving_face(len(pts_ms)), pts_ms=pts_ms)
    with Video(path) as video:
        frames = list(video)
        assert [f.index for f in frames] == list(range(len(pts_ms)))
        assert [f.time for f in frames] == pytest.approx([p / 1000 for p in pts_ms], abs=1e-4)
        assert video.times == pytest.approx([p / 1000 for p in pts_ms], abs=1e-4)
        assert np.array_equal(video.frame(13).image, frames[13].image) and video.frame(13).time == frames[13].time


def test_stride(tmp_path):
    path = write_video(tmp_path / "clip.mp4", moving_face(30))
    every = list(Video(path))
    with Video(path, stride=4) as video:
        strided = list(video)
        assert len(video) == 8 and [f.index for f in strided] == [0, 4, 8, 12, 16, 20, 24, 28]
        assert all(np.array_equal(f.image, every[f.index].image) for f in strided)
        assert video.frame(5).index == 5  # random access ignores the stride
    for bad in (0, -1, 1.5, True):
        with pytest.raises(FootageError, match="stride"):
            Video(path, stride=bad)


def test_display_rotation_is_applied(tmp_path):
    frames = moving_face(6, size=96)
    frames = [np.ascontiguousarray(f[:, :64]) for f in frames]  # 64 wide, 96 high
    lossless = {"qp": "0"}
    plain = list(Video(write_video(tmp_path / "plain.mp4", frames, options=lossless)))
    turned = list(Video(write_video(tmp_path / "turned.mp4", frames, rotation=90, options=lossless)))
    assert turned[0].image.shape == (64, 96, 3)
    for a, b in zip(plain, turned):
        assert np.array_equal(np.rot90(a.image, 1), b.image)  # 90 degrees counter-clockwise


def test_video_focal_hint_from_metadata(tmp_path):
    key = "com.apple.quicktime.camera.focal_length.35mm_equivalent"
    with Video(write_video(tmp_path / "phone.mkv", moving_face(3), metadata={key: "26"})) as video:
        assert video.focal.focal_35mm == 26 and next(iter(video)).focal == video.focal


def test_out_of_range_frame_names_the_file(tmp_path):
    with Video(write_video(tmp_path / "clip.mp4", moving_face(5))) as video:
        with pytest.raises(FootageError, match=r"clip\.mp4: frame 5 is out of range: the video has 5 frames \(0\.\.4\)"):
            video.frame(5)


def test_files_without_a_video_stream(tmp_path):
    av = import_av()
    with av.open(str(tmp_path / "voice.m4a"), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(10):
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 16000, i * 1024
            container.mux(stream.encode(samples))
        container.mux(stream.encode())
    with pytest.raises(FootageError, match=r"voice\.m4a: has no video stream \(found: 1 audio\)"):
        Video(tmp_path / "voice.m4a")
    (tmp_path / "notes.txt").write_text("hello\n" * 50)
    with pytest.raises(FootageError, match=r"notes\.txt: not a video"):
        open_footage(tmp_path / "notes.txt")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(FootageError, match=r"empty\.mp4: not a video FFmpeg can read"):
        Video(tmp_path / "empty.mp4")
    with pytest.raises(FootageError, match=r"missing\.mp4: no such file"):
        Video(tmp_path / "missing.mp4")


def test_truncated_videos(tmp_path):
    data = write_video(tmp_path / "whole.mp4", moving_face(30)).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # the index (moov) is at the end
    with pytest.raises(FootageError, match=r"cut\.mp4: not a video FFmpeg can read \(corrupt or truncated\?\)"):
        Video(tmp_path / "cut.mp4")
    data = write_video(tmp_path / "whole.mkv", moving_face(30)).read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 2])  # readable up to the cut
    with Video(tmp_path / "cut.mkv") as video:
        frames = list(video)
        assert 5 < len(frames) < 30
        assert any("cut.mkv" in w and "truncated" in w for w in video.warnings)


def test_importing_the_actor_modules_loads_no_heavy_packages():
    script = (
        "import sys, neural_core.actor.footage, neural_core.actor.photos, neural_core.actor.video, neural_core.actor.landmarks\n"
        "print(sorted(m for m in ('torch', 'mediapipe', 'av', 'cv2', 'matplotlib') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_in_memory_exif_round_trip_is_what_the_tests_assume():
    """Guards the helpers above: Pillow writes the Exif sub-IFD tags we set."""
    buffer = io.BytesIO()
    save_jpeg(buffer, quadrants(), orientation=6, sub={0xA405: 28})
    with Image.open(buffer) as image:
        exif = image.getexif()
        assert exif[0x0112] == 6 and exif.get_ifd(0x8769)[0xA405] == 28
