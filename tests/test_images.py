import io
import os

import numpy as np
import pytest
from PIL import Image

from core.errors import ImageLoadError
from core.io.images import OVERVIEW_SIDE, from_pil, load_image, parse_crop
from core.vocabulary import MIN_CROP_SIDE


def save(image: Image.Image, path, **kw):
    image.save(path, **kw)
    return path


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    source = Image.new("RGB", (20, 10), (200, 100, 50)).convert(mode) if mode not in ("I;16", "I", "F") else None
    if mode == "I;16":
        source = Image.fromarray(np.full((10, 20), 65535 // 2, dtype=np.uint16))
    elif mode == "I":
        source = Image.fromarray(np.full((10, 20), 1000, dtype=np.int32), "I")
    elif mode == "F":
        source = Image.fromarray(np.linspace(0, 5, 200, dtype=np.float32).reshape(10, 20), "F")
    suffix = ".tiff" if mode in ("CMYK", "I;16", "I", "F") else ".png"
    path = save(source, tmp_path / f"img{suffix}")
    loaded = load_image(path)
    assert loaded.image.mode == "RGB"
    assert loaded.size == (20, 10)


def test_sixteen_bit_is_scaled_by_its_range(tmp_path):
    data = np.zeros((4, 4), dtype=np.uint16)
    data[0, 0] = 65535
    data[0, 1] = 32768
    path = save(Image.fromarray(data), tmp_path / "deep.png")
    arr = np.asarray(load_image(path).image)
    assert arr[0, 0, 0] == 255
    assert 126 <= arr[0, 1, 0] <= 129  # half range, not clipped to 255
    assert arr[1, 1, 0] == 0


def test_transparency_is_composited_over_white(tmp_path):
    path = save(Image.new("RGBA", (4, 4), (255, 0, 0, 0)), tmp_path / "clear.png")
    assert tuple(np.asarray(load_image(path).image)[0, 0]) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (30, 10), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes())
    assert load_image(path).size == (10, 30)


def test_animated_file_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    r, g, b = np.asarray(load_image(path).image)[4, 4]
    assert r > 200 and b < 50


def test_paths_with_spaces_and_non_ascii(tmp_path):
    folder = tmp_path / "dossier très spécial"
    folder.mkdir()
    path = save(Image.new("RGB", (5, 5)), folder / "läsion 1 – ü.png")
    assert load_image(path).path == str(path)


def corrupt_cases(tmp_path):
    good = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good, "JPEG")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 3])
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (tmp_path / "notes.txt").write_text("not an image at all")
    # A PNG header declaring a zero-width image.
    (tmp_path / "zero.png").write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x00\x00\x00\x00\x05\x08\x02\x00\x00\x00\x00\x00\x00\x00"
    )
    (tmp_path / "folder.jpg").mkdir()
    return {
        "missing": (tmp_path / "nope.jpg", "no such image file"),
        "directory": (tmp_path / "folder.jpg", "folder"),
        "empty": (tmp_path / "empty.jpg", "empty"),
        "truncated": (tmp_path / "truncated.jpg", "truncated"),
        "corrupt": (tmp_path / "corrupt.png", ""),
        "not an image": (tmp_path / "notes.txt", "unsupported format"),
        "zero size": (tmp_path / "zero.png", ""),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "truncated", "corrupt", "not an image", "zero size"])
def test_bad_files_raise_one_error_type_with_one_line_naming_the_file(tmp_path, case):
    path, words = corrupt_cases(tmp_path)[case]
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message and words in message


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = save(Image.new("L", (200, 200)), tmp_path / "big.png")
    monkeypatch.setattr("core.io.images.MAX_PIXELS", 100 * 100)
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(path)


def test_zero_sized_in_memory_image_is_refused():
    with pytest.raises(ImageLoadError, match="zero size"):
        from_pil(Image.new("RGB", (0, 5)))


def test_crop_is_applied_in_original_coordinates(tmp_path):
    arr = np.zeros((40, 60, 3), dtype=np.uint8)
    arr[10:30, 30:50] = 255
    path = save(Image.fromarray(arr), tmp_path / "box.png")
    loaded = load_image(path, crop=(30, 10, 20, 20))
    assert loaded.size == (20, 20) and loaded.original_size == (60, 40) and loaded.crop == (30, 10, 20, 20)
    assert np.asarray(loaded.image).min() == 255


@pytest.mark.parametrize("crop", [(0, 0, 0, 5), (-1, 0, 5, 5), (50, 0, 20, 5), (0, 0, 60, 41), ("a", 0, 1, 1)])
def test_bad_crops_are_refused(tmp_path, crop):
    path = save(Image.new("RGB", (60, 40)), tmp_path / "img.png")
    with pytest.raises(ImageLoadError, match="crop"):
        load_image(path, crop=crop)


def test_parse_crop():
    assert parse_crop("1, 2,30,40") == (1, 2, 30, 40)
    with pytest.raises(ValueError):
        parse_crop("1,2,3")


@pytest.mark.parametrize("crop, message", [((-5, 0, 20, 20), "x must be >= 0, got -5"),
                                           ((0, -1, 20, 20), "y must be >= 0, got -1"),
                                           ((0, 0, 15, 20), f"w must be at least {MIN_CROP_SIDE} px, got 15"),
                                           ((0, 0, 20, 1), f"h must be at least {MIN_CROP_SIDE} px, got 1")])
def test_a_crop_needs_a_corner_inside_and_sides_of_at_least_the_minimum(tmp_path, crop, message):
    # one rule wherever a crop comes from: the command line (before any image is read), a file, a drawn box
    with pytest.raises(ValueError, match=message):
        parse_crop(",".join(map(str, crop)))
    with pytest.raises(ImageLoadError, match=message):
        from_pil(Image.new("RGB", (60, 40)), crop=crop)
    assert from_pil(Image.new("RGB", (60, 40)), crop=(0, 0, MIN_CROP_SIDE, MIN_CROP_SIDE)).size == (16, 16)


def test_a_cropped_image_keeps_a_small_overview_of_the_whole_image():
    whole = Image.new("RGB", (900, 300), (10, 20, 30))
    cropped = from_pil(whole, crop=(100, 50, 200, 100))
    assert cropped.overview is not None and max(cropped.overview.size) <= OVERVIEW_SIDE
    assert cropped.overview.size[0] == pytest.approx(3 * cropped.overview.size[1], abs=1)  # the whole image's shape
    assert from_pil(whole).overview is None  # shown whole: nothing to point at


def test_a_minimal_crop_of_a_downsampled_file_stays_usable(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (4000, 4000), (90, 90, 90)).save(path)  # 16 Mpx: loaded at about 0.87 of its size
    loaded = load_image(path, crop=(3984, 3984, 16, 16))
    assert loaded.scale > 1 and min(loaded.size) >= MIN_CROP_SIDE


# --- issue 11: formats that run programs, bounded memory ---------------------------------------------------

def test_postscript_and_pdf_plugins_are_never_tried(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin, PdfImagePlugin  # noqa: F401  loaded, so Pillow could pick them by content

    def tripwire(self):
        raise AssertionError("a plugin that runs an external program was tried")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", tripwire)
    eps = tmp_path / "photo.jpg"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n(x) print\n")
    with pytest.raises(ImageLoadError, match="unsupported format"):
        load_image(eps)


def test_huge_image_is_shrunk_on_load_and_crops_stay_in_file_pixels(tmp_path, monkeypatch):
    from core.io import images

    monkeypatch.setattr(images, "MAX_LOADED_PIXELS", 10_000)
    path = tmp_path / "big.png"
    array = np.zeros((400, 600, 3), np.uint8)
    array[100:200, 300:500] = 255  # a white box, in file pixels
    Image.fromarray(array).save(path)
    whole = load_image(path)
    assert whole.image.width * whole.image.height <= 10_000 and whole.scale == pytest.approx(600 / whole.image.width)
    cropped = load_image(path, crop=(300, 100, 200, 100))  # exactly the white box
    assert np.asarray(cropped.image).mean() > 240
    with pytest.raises(ImageLoadError, match="outside"):
        load_image(path, crop=(500, 0, 200, 20))  # outside the file, however small the loaded image


def test_large_jpeg_decodes_reduced_and_turned(tmp_path, monkeypatch):
    from core.io import images

    monkeypatch.setattr(images, "MAX_LOADED_PIXELS", 20_000)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown turned by 90 degrees
    Image.new("RGB", (640, 320), (200, 30, 30)).save(tmp_path / "wide.jpg", exif=exif.tobytes())
    loaded = load_image(tmp_path / "wide.jpg")
    assert loaded.image.height > loaded.image.width  # turned
    assert loaded.image.width * loaded.image.height <= 20_000
    assert loaded.scale == pytest.approx(320 / loaded.image.width, rel=0.02)


def test_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_image(tmp_path / "pipe.png")


def test_huge_paste_is_shrunk(monkeypatch):
    from core.io import images

    monkeypatch.setattr(images, "MAX_LOADED_PIXELS", 10_000)
    pasted = from_pil(Image.new("RGB", (500, 400)))
    assert pasted.image.width * pasted.image.height <= 10_000 and pasted.scale > 1


@pytest.mark.parametrize("where", ["all", "one"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_float_images_with_undefined_values_are_refused_naming_the_file(tmp_path, where, value):
    pixels = np.linspace(0, 1, 40 * 50, dtype=np.float32).reshape(40, 50)
    if where == "all":
        pixels[:] = value
    else:
        pixels[39, 49] = value  # the last pixel: every band is checked, not the first
    path = save(Image.fromarray(pixels, "F"), tmp_path / "scan float.tif")
    with pytest.raises(ImageLoadError) as caught:
        load_image(path)
    message = str(caught.value)
    assert "scan float.tif" in message and "NaN or infinite" in message and "\n" not in message
    assert ("all pixel values" in message) == (where == "all")



def test_a_side_under_the_minimum_is_allowed_only_where_it_spans_a_small_image():
    # a 10 px wide image has no 16 px box: a box as wide as the image cuts nothing off that side
    narrow = Image.new("RGB", (10, 40))
    assert from_pil(narrow, crop=(0, 5, 10, 20)).size == (10, 20)
    with pytest.raises(ImageLoadError, match=f"w must be at least {MIN_CROP_SIDE} px, got 9"):
        from_pil(narrow, crop=(1, 5, 9, 20))
    with pytest.raises(ImageLoadError, match=f"h must be at least {MIN_CROP_SIDE} px, got 10"):
        from_pil(narrow, crop=(0, 0, 10, 10))


def test_a_name_too_long_for_the_file_system_is_said_so(tmp_path):
    # was "corrupt or truncated image data (...)" for a file that cannot even exist
    with pytest.raises(ImageLoadError, match=r"cannot be read \(File name too long\)$"):
        load_image(tmp_path / ("x" * 300 + ".jpg"))
