"""Image processing and file writing on their own (no database): content decides the type,
orientation is applied, the output is a small WebP without metadata, limits hold."""

from __future__ import annotations

import hashlib
import io
import os
import time

import pytest
from PIL import ExifTags, Image

from stridegraph.domain import photos
from stridegraph.domain.errors import DomainError
from tests.photos_support import (
    BAD_INPUTS,
    SECRET_COMMENT,
    encode,
    jpeg_with_metadata,
    png,
    riff_chunks,
    webp,
)

LIMIT = 4096 * 4096  # the default MAX_IMAGE_PIXELS


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def problem_code(data: bytes, max_pixels: int = LIMIT) -> str:
    with pytest.raises(DomainError) as caught:
        photos.process_image(data, max_pixels=max_pixels)
    [problem] = caught.value.problems
    assert problem.field == "file"
    return problem.code.value


def test_the_test_jpeg_really_carries_metadata():
    """Guard for the next test: the input has what the output must lose."""
    source = jpeg_with_metadata()
    image = decode(source)
    assert image.getexif()[ExifTags.Base.Orientation] == 6
    assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert "icc_profile" in image.info
    assert SECRET_COMMENT in source


def test_jpeg_is_turned_upright_shrunk_and_stripped():
    source = jpeg_with_metadata((1200, 800), orientation=6)
    result = photos.process_image(source, max_pixels=LIMIT)

    assert photos.sniff_format(result.data) == "WEBP"
    assert result.name == hashlib.sha256(result.data).hexdigest() + ".webp"
    image = decode(result.data)
    # 1200x800 turned a quarter clockwise is 800x1200; shrunk to 512 on the long side.
    assert image.size == (341, 512)
    top, bottom = image.getpixel((170, 40)), image.getpixel((170, 470))
    assert top[0] > 200 and top[2] < 60, top  # the red (left) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    assert set(riff_chunks(result.data)) <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}
    assert not image.getexif()
    for key in ("exif", "icc_profile", "xmp", "comment"):
        assert key not in image.info
    assert SECRET_COMMENT not in result.data and b"TestCam" not in result.data


def test_small_images_are_not_enlarged_and_output_is_deterministic():
    first = photos.process_image(png((64, 48)), max_pixels=LIMIT)
    again = photos.process_image(png((64, 48)), max_pixels=LIMIT)
    assert decode(first.data).size == (64, 48)
    assert first == again  # same content, same name: files are content-addressed


def test_png_transparency_survives():
    result = photos.process_image(png((40, 40), "RGBA", (0, 0, 0, 0)), max_pixels=LIMIT)
    image = decode(result.data)
    assert image.mode == "RGBA"
    assert image.getpixel((20, 20))[3] == 0


@pytest.mark.parametrize(
    "data",
    [
        webp((600, 300)),
        encode(Image.new("RGB", (30, 30)), "WEBP", lossless=True),
        encode(Image.new("CMYK", (30, 30), (0, 255, 0, 0)), "JPEG"),
        png((30, 30), "L", 128),
        png((30, 30), "I;16", 3000),
        png((30, 30), "P", 3),
    ],
    ids=["webp", "lossless-webp", "cmyk-jpeg", "grey-png", "16bit-png", "palette-png"],
)
def test_accepted_kinds(data):
    image = decode(photos.process_image(data, max_pixels=LIMIT).data)
    assert image.format == "WEBP" and max(image.size) <= 512


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused(case):
    _, data, _, code = BAD_INPUTS[case]
    assert problem_code(data) == code


def test_the_pixel_limit_is_per_call_and_leaves_pillow_alone():
    before = Image.MAX_IMAGE_PIXELS
    data = png((100, 100))
    assert problem_code(data, max_pixels=9_999) == "UNSUPPORTED_IMAGE"
    assert photos.process_image(data, max_pixels=10_000)
    assert before == Image.MAX_IMAGE_PIXELS


def test_type_comes_from_magic_bytes():
    assert photos.sniff_format(png()) == "PNG"
    assert photos.sniff_format(jpeg_with_metadata((20, 20))) == "JPEG"
    assert photos.sniff_format(webp()) == "WEBP"
    assert photos.sniff_format(b"GIF89a....") is None
    assert photos.sniff_format(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None


def test_a_png_header_on_a_jpeg_body_is_refused():
    """The magic says PNG, so only the PNG decoder may try; it must not fall back to JPEG."""
    body = jpeg_with_metadata((20, 20))
    assert problem_code(b"\x89PNG\r\n\x1a\n" + body) == "UNSUPPORTED_IMAGE"


def test_write_atomically_leaves_only_the_final_file(tmp_path):
    directory = tmp_path / "photos"
    photos.write_atomically(directory, "a" * 64 + ".webp", b"one")
    photos.write_atomically(directory, "a" * 64 + ".webp", b"two")
    assert os.listdir(directory) == ["a" * 64 + ".webp"]
    assert (directory / ("a" * 64 + ".webp")).read_bytes() == b"two"


def test_file_for_refuses_names_that_are_not_ours(tmp_path):
    assert photos.file_for(tmp_path, "../../etc/passwd") is None
    assert photos.file_for(tmp_path, "user_images/1.jpg") is None
    assert photos.file_for(tmp_path, None) is None
    assert photos.file_for(tmp_path, "b" * 64 + ".webp") == tmp_path / ("b" * 64 + ".webp")


def test_sweep_keeps_referenced_young_and_foreign_files(tmp_path):
    old = time.time() - 3600
    names = {n: "c" * 63 + n + ".webp" for n in "0123"}
    for name in names.values():
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".upload-x.tmp").write_bytes(b"x")
    (tmp_path / "README").write_bytes(b"not ours")
    for name in (names["0"], names["1"], ".upload-x.tmp", "README"):
        os.utime(tmp_path / name, (old, old))
    removed = photos._sweep(tmp_path, {names["0"]}, time.time() - 600)
    assert removed == sorted([names["1"], ".upload-x.tmp"])
    assert sorted(os.listdir(tmp_path)) == sorted(["README", names["0"], names["2"], names["3"]])


def test_the_default_limit_takes_4096_squared_and_refuses_one_row_more():
    assert photos.process_image(png((4096, 4096)), max_pixels=LIMIT)
    assert problem_code(png((4096, 4097))) == "UNSUPPORTED_IMAGE"


@pytest.mark.parametrize(
    ("mode", "image_format", "color"),
    [
        ("1", "PNG", 1),
        ("L", "PNG", 128),
        ("LA", "PNG", (128, 200)),
        ("P", "PNG", 3),
        ("I;16", "PNG", 40000),
        ("RGB", "PNG", (1, 2, 3)),
        ("RGBA", "PNG", (1, 2, 3, 4)),
        ("RGBA", "WEBP", (1, 2, 3, 4)),
        ("RGB", "JPEG", (1, 2, 3)),
        ("L", "JPEG", 128),
        ("CMYK", "JPEG", (10, 20, 30, 0)),
    ],
)
def test_every_mode_is_shrunk_to_at_most_512_px(mode, image_format, color):
    """Shrinking comes before conversion, so each mode takes its own path through it."""
    data = encode(Image.new(mode, (2000, 1500), color), image_format)
    image = decode(photos.process_image(data, max_pixels=LIMIT).data)
    assert image.size == (512, 384)
    assert image.mode in ("RGB", "RGBA")
