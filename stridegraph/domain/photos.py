"""Profile photos: validation, processing, storage, visibility and clean-up.

An upload is untrusted bytes. Its type is decided by its content (magic bytes, then Pillow
restricted to that one format), never by the file name or declared type; only JPEG, PNG and
WebP are accepted. The pixel count is checked from the header before any pixel is decoded
(a per-decode limit, not Pillow's process-wide ``MAX_IMAGE_PIXELS``), the EXIF orientation
is applied, and the picture is re-encoded as WebP of at most 512 px on the long side from a
fresh image, so no metadata (EXIF, GPS, ICC, XMP, comments) survives. All of it runs in a
worker thread.

Files are content-addressed: ``<sha256 of the WebP bytes>.webp`` under ``DATA_DIR/photos``,
written atomically (temporary file, fsync, rename). Two users with identical output share one
file, so a file is removed only after the commit and only when no user row references it;
``collect_garbage`` (``stridegraph gc-photos``) sweeps whatever a crash or race left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image, ImageCms, ImageOps

from stridegraph.db import photos as photo_rows
from stridegraph.db.models import User
from stridegraph.domain import users as users_domain
from stridegraph.domain.errors import DomainError, ErrorCode, Forbidden, Unauthenticated
from stridegraph.domain.scopes import PROFILE_READ, USERS_READ
from stridegraph.domain.unit import Services, Unit
from stridegraph.domain.viewer import Viewer

log = logging.getLogger("stridegraph.photos")

MAX_SIDE = 512
WEBP_QUALITY = 82
CONTENT_TYPE = "image/webp"
NAME_PATTERN = re.compile(r"^[0-9a-f]{64}\.webp$")
TEMP_PREFIX = ".upload-"
# gc-photos leaves younger files alone: an upload writes its file before its transaction
# commits, and sweeping it in between would leave the new row pointing at nothing.
GC_GRACE_SECONDS = 600

_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("JPEG", b"\xff\xd8\xff", 0),
    ("PNG", b"\x89PNG\r\n\x1a\n", 0),
)


class UploadSource(Protocol):
    """What the transport hands us: an uploaded file we can read (Starlette's UploadFile)."""

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class ProcessedPhoto:
    data: bytes
    name: str


@dataclass(frozen=True)
class StoredPhoto:
    """A photo the viewer may fetch. ``public``: visible without credentials."""

    path: Path
    etag: str
    content_type: str
    public: bool


def _unsupported(
    message: str = "The file is not a JPEG, PNG or WebP image we can read.",
) -> DomainError:
    return DomainError.of(ErrorCode.UNSUPPORTED_IMAGE, message, "file")


# --------------------------------------------------------------------------- image work (sync)


def sniff_format(data: bytes) -> str | None:
    """The image format from the magic bytes: ``JPEG``, ``PNG``, ``WEBP`` or None."""
    for name, magic, offset in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _to_srgb(image: Image.Image, mode: str) -> Image.Image:
    """Convert to ``mode``, through the embedded ICC profile when there is one, so colours
    survive dropping the profile; a profile lcms cannot use is simply ignored."""
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        with contextlib.suppress(ImageCms.PyCMSError, OSError, ValueError, TypeError):
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                image.convert("RGBA") if mode == "RGBA" and image.mode != "RGBA" else image,
                source,
                ImageCms.createProfile("sRGB"),
                outputMode=mode,
            )
            if converted is not None:
                return converted
    return image.convert(mode)


def _decode(data: bytes, image_format: str, max_pixels: int) -> Image.Image:
    """Decode one frame, upright, in RGB(A), refusing oversized canvases before decoding."""
    with Image.open(io.BytesIO(data), formats=[image_format]) as image:
        if image.format != image_format:
            raise _unsupported()
        width, height = image.size
        if width < 1 or height < 1 or width * height > max_pixels:
            raise _unsupported("The image has too many pixels.")
        image.draft(None, (MAX_SIDE, MAX_SIDE))  # JPEG: let the decoder scale down (cheap)
        image.load()
        upright = ImageOps.exif_transpose(image)
        return _to_srgb(upright, "RGBA" if _has_alpha(image) else "RGB")


def process_image(data: bytes, *, max_pixels: int) -> ProcessedPhoto:
    """Validate, orient, shrink and re-encode an upload; raise UNSUPPORTED_IMAGE otherwise.

    Runs in a worker thread. Any exception from decoding untrusted bytes (Pillow raises
    OSError, SyntaxError, ValueError, struct errors, DecompressionBombError, ...) means the
    file is not an image we accept.
    """
    image_format = sniff_format(data)
    if image_format is None:
        raise _unsupported()
    try:
        image = _decode(data, image_format, max_pixels)
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        # A brand-new image carries no info dict: nothing of the original's metadata remains.
        clean = Image.frombytes(image.mode, image.size, image.tobytes())
        out = io.BytesIO()
        clean.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    except DomainError:
        raise
    except Exception as exc:
        log.info("rejected an upload: %s", type(exc).__name__)
        raise _unsupported() from None
    encoded = out.getvalue()
    return ProcessedPhoto(data=encoded, name=hashlib.sha256(encoded).hexdigest() + ".webp")


# --------------------------------------------------------------------------- files (sync)


def write_atomically(directory: Path, name: str, data: bytes) -> None:
    """Write ``directory/name`` so readers see the old state or the whole new file."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, directory / name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def file_for(directory: Path, name: str | None) -> Path | None:
    """The stored file for a ``photo_path`` value; None for anything not ours (no traversal)."""
    if not name or not NAME_PATTERN.match(name):
        return None
    return directory / name


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# --------------------------------------------------------------------------- after commit


async def _remove_if_unreferenced(services: Services, name: str) -> None:
    """After the commit: delete the file unless some user row (still) points at it."""
    path = file_for(services.settings.photos_dir, name)
    if path is None:
        return
    async with services.sessions() as session:
        if await photo_rows.is_referenced(session, name):
            return
    await asyncio.to_thread(_remove, path)


def discard_after_commit(unit: Unit, *, user: User) -> None:
    """Remove ``user``'s stored photo file once the transaction commits (deleteMe,
    deleteUser, photo replacement). Never before: a rollback must leave the file in place.

    Call it before changing or deleting the row; it remembers the current file name.
    """
    name = user.photo_path
    if not name:
        return
    services = unit.services
    unit.after_commit(lambda: _remove_if_unreferenced(services, name))


def _ensure_after_commit(unit: Unit, photo: ProcessedPhoto) -> None:
    """Re-write the new file after the commit if a concurrent clean-up of identical content
    (another user dropping the same picture) removed it between our write and our commit."""
    directory = unit.settings.photos_dir
    unit.after_commit(lambda: asyncio.to_thread(_write_if_missing, directory, photo))


def _write_if_missing(directory: Path, photo: ProcessedPhoto) -> None:
    if not (directory / photo.name).exists():
        write_atomically(directory, photo.name, photo.data)


# --------------------------------------------------------------------------- operations


async def read_upload(file: UploadSource | None, *, limit: int) -> bytes:
    """The upload's bytes, refusing more than ``limit`` without reading further."""
    if file is None:
        raise DomainError.of(
            ErrorCode.REQUIRED, "Send the photo as a file (GraphQL multipart request).", "file"
        )
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise DomainError.of(
            ErrorCode.FILE_TOO_LARGE, f"The file is larger than {limit} bytes.", "file"
        )
    if not data:
        raise _unsupported("The file is empty.")
    return data


def _signed_in(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise Unauthenticated("You must be signed in.")
    return viewer


async def _locked_user(unit: Unit, user_id: int) -> User:
    user = await photo_rows.lock_user(unit.session, user_id)
    if user is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such user.", "id")
    return user


async def upload_my_photo(unit: Unit, *, viewer: Viewer | None, file: UploadSource | None) -> User:
    """Replace the viewer's photo with the processed upload (the seed's save_user_image_file)."""
    viewer = _signed_in(viewer)
    settings = unit.settings
    data = await read_upload(file, limit=settings.max_upload_bytes)
    photo = await asyncio.to_thread(process_image, data, max_pixels=settings.max_image_pixels)
    await asyncio.to_thread(write_atomically, settings.photos_dir, photo.name, photo.data)
    user = await _locked_user(unit, viewer.user_id)
    discard_after_commit(unit, user=user)
    await photo_rows.set_photo(unit.session, user, photo.name)
    _ensure_after_commit(unit, photo)
    return user


async def _clear_photo(unit: Unit, user_id: int) -> User:
    user = await _locked_user(unit, user_id)
    if user.photo_path is not None:
        discard_after_commit(unit, user=user)
        await photo_rows.set_photo(unit.session, user, None)
    return user


async def delete_my_photo(unit: Unit, *, viewer: Viewer | None) -> User:
    """Remove the viewer's photo; without one it is a no-op (idempotent)."""
    return await _clear_photo(unit, _signed_in(viewer).user_id)


async def delete_user_photo(unit: Unit, *, viewer: Viewer | None, user_id: int | None) -> User:
    """An administrator removes a user's photo (e.g. an offensive one)."""
    if not _signed_in(viewer).is_admin:
        raise Forbidden("This needs an administrator.")
    if user_id is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such user.", "id")
    return await _clear_photo(unit, user_id)


def _may_read_users(viewer: Viewer, user_id: int) -> bool:
    own = viewer.user_id == user_id and viewer.has(PROFILE_READ)
    return own or viewer.has(USERS_READ)


async def photo_for_viewer(
    unit: Unit, *, viewer: Viewer | None, user_id: int
) -> StoredPhoto | None:
    """The photo ``viewer`` may fetch, with the visibility of ``user(id:)``: anonymous only
    with public profiles, signed in with ``users:read`` (your own photo also with
    ``profile:read``); non-admins never see inactive or unapproved users. None otherwise."""
    if viewer is not None and not _may_read_users(viewer, user_id):
        return None
    user = (await users_domain.visible_by_ids(unit, viewer=viewer, ids=[user_id])).get(user_id)
    path = file_for(unit.settings.photos_dir, user.photo_path if user else None)
    if path is None:
        return None
    return StoredPhoto(
        path=path,
        etag='"' + path.name.split(".", 1)[0] + '"',
        content_type=CONTENT_TYPE,
        public=viewer is None,
    )


def _sweep(directory: Path, referenced: set[str], older_than: float) -> list[str]:
    if not directory.is_dir():
        return []
    removed = []
    for entry in directory.iterdir():
        ours = NAME_PATTERN.match(entry.name) or entry.name.startswith(TEMP_PREFIX)
        if not ours or entry.name in referenced or not entry.is_file():
            continue
        if entry.stat().st_mtime > older_than:
            continue
        _remove(entry)
        removed.append(entry.name)
    return sorted(removed)


async def collect_garbage(
    services: Services, *, grace_seconds: int = GC_GRACE_SECONDS
) -> list[str]:
    """Delete stored photo files no user references (and stale temporary files), leaving
    anything younger than ``grace_seconds`` for an upload that has not committed yet."""
    async with services.sessions() as session:
        referenced = await photo_rows.referenced_names(session)
    cutoff = time.time() - grace_seconds
    return await asyncio.to_thread(_sweep, services.settings.photos_dir, referenced, cutoff)
