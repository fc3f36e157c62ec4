"""Images for the photo tests, made with Pillow in memory, and small readers for the output."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import ExifTags, Image, ImageCms

UPLOAD = """
mutation Upload($file: Upload!) {
  uploadMyPhoto(file: $file) { user { id photoUrl } errors { field code message } }
}
"""
DELETE_MINE = "mutation { deleteMyPhoto { user { photoUrl } errors { field code } } }"
DELETE_USERS = """
mutation DeleteUserPhoto($id: ID!) {
  deleteUserPhoto(id: $id) { user { id photoUrl } errors { field code } }
}
"""
SECRET_COMMENT = b"secret comment 52.37N"


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def halves(size: tuple[int, int] = (1200, 800)) -> Image.Image:
    """Left half red, right half blue: after a 90° turn the halves become top and bottom."""
    image = Image.new("RGB", size, (255, 0, 0))
    image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    return image


def jpeg_with_metadata(size: tuple[int, int] = (1200, 800), orientation: int = 6) -> bytes:
    """A JPEG whose EXIF says "rotate 90° clockwise", with GPS, a camera make, an ICC
    profile and a comment: everything the service must apply or strip."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "TestCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 22.0, 12.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (4.0, 53.0, 30.0)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(
        halves(size), "JPEG", exif=exif.tobytes(), icc_profile=icc, comment=SECRET_COMMENT
    )


def png(size: tuple[int, int] = (64, 48), mode: str = "RGB", color: object = (0, 128, 0)) -> bytes:
    return encode(Image.new(mode, size, color), "PNG")  # type: ignore[arg-type]


def webp(size: tuple[int, int] = (64, 48)) -> bytes:
    return encode(Image.new("RGB", size, (10, 20, 30)), "WEBP")


def gif() -> bytes:
    return encode(Image.new("P", (32, 32), 1), "GIF")


SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script></svg>"
)
TEXT = b"just some text, not an image at all\n"


def truncated_jpeg() -> bytes:
    whole = encode(halves((400, 300)), "JPEG", quality=90)
    return whole[: len(whole) // 2]


def bomb_png() -> bytes:
    """A real decompression bomb: 64 million pixels (far over the pixel limit) in a few KB."""
    return encode(Image.new("1", (8000, 8000), 0), "PNG")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_header_png() -> bytes:
    """A PNG claiming 100000 x 100000 pixels: beyond even Pillow's own bomb limit."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


BAD_INPUTS: dict[str, tuple[str, bytes, str, str]] = {
    # name: (file name, bytes, declared content type, expected code)
    "text named .png": ("photo.png", TEXT, "image/png", "UNSUPPORTED_IMAGE"),
    "truncated jpeg": ("photo.jpg", truncated_jpeg(), "image/jpeg", "UNSUPPORTED_IMAGE"),
    "decompression bomb": ("bomb.png", bomb_png(), "image/png", "UNSUPPORTED_IMAGE"),
    "huge header": ("huge.png", huge_header_png(), "image/png", "UNSUPPORTED_IMAGE"),
    "gif": ("photo.gif", gif(), "image/gif", "UNSUPPORTED_IMAGE"),
    "gif named .jpg": ("photo.jpg", gif(), "image/jpeg", "UNSUPPORTED_IMAGE"),
    "svg": ("photo.svg", SVG, "image/svg+xml", "UNSUPPORTED_IMAGE"),
    "svg named .png": ("photo.png", SVG, "image/png", "UNSUPPORTED_IMAGE"),
    "empty": ("photo.png", b"", "image/png", "UNSUPPORTED_IMAGE"),
}


def oversized(limit: int) -> bytes:
    """One byte over the upload limit, starting like a JPEG."""
    return b"\xff\xd8\xff\xe0" + b"\x00" * (limit - 3)


def riff_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a WebP file (VP8/VP8L/VP8X/ALPH, and EXIF/ICCP/XMP if any)."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    kinds, offset = [], 12
    while offset + 8 <= len(data):
        kind = data[offset : offset + 4]
        (size,) = struct.unpack("<I", data[offset + 4 : offset + 8])
        kinds.append(kind)
        offset += 8 + size + (size & 1)
    return kinds
