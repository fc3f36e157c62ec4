"""Profile photos: validation, processing, storage, visibility and clean-up.

An upload is untrusted bytes. Its type is decided by its content (magic bytes, then Pillow
restricted to that one format), never by the file name or declared type; only JPEG, PNG and
WebP are accepted. The pixel count is checked from the header before any pixel is decoded
(a per-decode limit, not Pillow's process-wide ``MAX_IMAGE_PIXELS``), the EXIF orientation
is applied, and the picture is re-encoded as WebP of at most 512 px on the long side from a
fresh image, so no metadata (EXIF, GPS, ICC, XMP, comments) survives.

Memory is bounded: the pixel limit (``MAX_IMAGE_PIXELS``, 4096 x 4096 by default: plenty for
a 512 px avatar) caps one decode; JPEG is decoded at 1/2, 1/4 or 1/8 scale by the decoder
itself (``draft``), other formats are shrunk first (``reduce``) and only then turned
upright and converted; and decodes run on a pool of ``IMAGE_CONCURRENCY`` threads shared by
the whole process, so peak memory is that many worst-case decodes however many uploads
arrive at once.

Files are content-addressed: ``<sha256 of the WebP bytes>.webp`` under ``DATA_DIR/photos``,
written atomically (temporary file, fsync, rename). Two users with identical output share one
file, so a file is removed only after the commit and only when no user row references it;
``collect_garbage`` (``stridegraph gc-photos``) sweeps whatever a crash or race left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import hashlib
import io
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from stridegraph.config import Settings
from stridegraph.db import photos as photo_rows
from stridegraph.db import users as user_rows
from stridegraph.db.models import User
from stridegraph.domain import security_events as events
from stridegraph.domain import users as users_domain
from stridegraph.domain.access import require
from stridegraph.domain.errors import DomainError, ErrorCode
from stridegraph.domain.scopes import PROFILE_READ, USERS_READ
from stridegraph.domain.security_events import EventType
from stridegraph.domain.unit import Services, Unit
from stridegraph.domain.validation import MAX_TEXT, USERNAME_RE
from stridegraph.domain.viewer import Viewer

if TYPE_CHECKING:
    from PIL import Image

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
    # Pillow is imported on first use, not at start-up: about 3 MB a worker that may never
    # decode a picture would carry (memory, not an import cycle)
    from PIL import ImageCms

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


# Modes Pillow resizes with a real filter; others (palette, bilevel, 16-bit, ...) are
# converted first (at most 4 bytes a pixel, no worse than an RGBA original).
_RESIZABLE = frozenset({"RGB", "RGBA", "L", "LA", "CMYK"})
# reduce() by whole factors until within this factor of the target, then LANCZOS: at 3 the
# result is indistinguishable from LANCZOS on the full image (Pillow's documentation).
REDUCING_GAP = 3.0


def _open_checked(data: bytes, image_format: str, max_pixels: int) -> Image.Image:
    """Open (header only) and refuse a wrong format or too many pixels before decoding."""
    from PIL import Image  # on first use, for memory (see _to_srgb)

    image = Image.open(io.BytesIO(data), formats=[image_format])
    width, height = image.size
    if image.format != image_format or width < 1 or height < 1:
        image.close()
        raise _unsupported()
    if width * height > max_pixels:
        image.close()
        raise _unsupported("The image has too many pixels.")
    return image


def _decode(data: bytes, image_format: str, max_pixels: int) -> Image.Image:
    """Decode one frame, at most MAX_SIDE on the long side, upright, in RGB(A), refusing
    oversized canvases before any pixel is decoded.

    JPEG: the decoder itself scales down by 1/2..1/8 (``draft``), so the full-size bitmap
    never exists. Others: the full bitmap is decoded once and shrunk in place (``reduce``
    by whole factors, then LANCZOS); orientation and colour conversion only ever see the
    small picture."""
    from PIL import Image, ImageOps  # on first use, for memory (see _to_srgb)

    with _open_checked(data, image_format, max_pixels) as image:
        mode = "RGBA" if _has_alpha(image) else "RGB"
        image.draft(None, (MAX_SIDE, MAX_SIDE))
        image.load()
        small = image if image.mode in _RESIZABLE else image.convert(mode)  # keeps info
        small.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        upright = ImageOps.exif_transpose(small)  # a new image, turned or not
        if small is not image:
            small.close()
    with upright:
        return _to_srgb(upright, mode)


def process_image(data: bytes, *, max_pixels: int) -> ProcessedPhoto:
    """Validate, orient, shrink and re-encode an upload; raise UNSUPPORTED_IMAGE otherwise.

    Runs in a worker thread. Any exception from decoding untrusted bytes (Pillow raises
    OSError, SyntaxError, ValueError, struct errors, DecompressionBombError, ...) means the
    file is not an image we accept.
    """
    from PIL import Image  # on first use, for memory (see _to_srgb)

    image_format = sniff_format(data)
    if image_format is None:
        raise _unsupported()
    try:
        # A brand-new image carries no info dict: nothing of the original's metadata remains.
        with (
            _decode(data, image_format, max_pixels) as image,
            Image.frombytes(image.mode, image.size, image.tobytes()) as clean,
        ):
            out = io.BytesIO()
            clean.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    except DomainError:
        raise
    except Exception as exc:
        log.info("rejected an upload: %s", type(exc).__name__)
        raise _unsupported() from None
    encoded = out.getvalue()
    return ProcessedPhoto(data=encoded, name=hashlib.sha256(encoded).hexdigest() + ".webp")


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _decoder_pool(size: int) -> ThreadPoolExecutor:
    """The process's image threads (one pool per configured size, made on first use).
    Uploads beyond ``size`` wait in its queue holding only their compressed bytes, so the
    process never decodes more than ``size`` pictures at once."""
    with _pools_lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = ThreadPoolExecutor(size, thread_name_prefix="stridegraph-image")
        return pool


def _malloc_trim() -> Callable[[], object]:
    """glibc's ``malloc_trim(0)``, or a no-op elsewhere. A decode frees tens of MB in many
    blocks; glibc keeps freed heap memory in its per-thread arenas, so without a trim a
    process that once decoded a large picture stays that large."""
    with contextlib.suppress(OSError, AttributeError):
        trim = ctypes.CDLL("libc.so.6").malloc_trim
        return lambda: trim(0)
    return lambda: None


_trim = _malloc_trim()


def _process_and_release(data: bytes, max_pixels: int) -> ProcessedPhoto:
    try:
        return process_image(data, max_pixels=max_pixels)
    finally:
        _trim()


async def process_upload(settings: Settings, data: bytes) -> ProcessedPhoto:
    """:func:`process_image` on the bounded image pool, off the event loop. A cancelled
    request that is still queued never starts its decode."""
    loop = asyncio.get_running_loop()
    work = functools.partial(_process_and_release, data, settings.max_image_pixels)
    return await loop.run_in_executor(_decoder_pool(settings.image_concurrency), work)


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


async def _locked_user(unit: Unit, user_id: int) -> User:
    user = await photo_rows.lock_user(unit.session, user_id)
    if user is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such user.", "id")
    return user


async def upload_my_photo(unit: Unit, *, viewer: Viewer | None, file: UploadSource | None) -> User:
    """Replace the viewer's photo with the processed upload (the seed's save_user_image_file)."""
    viewer = require(viewer)
    settings = unit.settings
    data = await read_upload(file, limit=settings.max_upload_bytes)
    photo = await process_upload(settings, data)
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
    return await _clear_photo(unit, require(viewer).user_id)


async def delete_user_photo(unit: Unit, *, viewer: Viewer | None, user_id: int) -> User:
    """An administrator removes a user's photo (e.g. an offensive one)."""
    require(viewer, admin=True)
    user = await _clear_photo(unit, user_id)
    await events.record(unit, type=EventType.ADMIN_PHOTO_DELETED, subject_id=user.id, viewer=viewer)
    return user


def _may_read_users(viewer: Viewer, user_id: int) -> bool:
    own = viewer.user_id == user_id and viewer.has(PROFILE_READ)
    return own or viewer.has(USERS_READ)


async def photo_for_viewer(
    unit: Unit, *, viewer: Viewer | None, user_id: int | None = None, username: str | None = None
) -> StoredPhoto | None:
    """The photo ``viewer`` may fetch, with the visibility of ``user(id:)``: anonymous only
    with public profiles, signed in with ``users:read`` (your own photo also with
    ``profile:read``); non-admins never see inactive or unapproved users. None otherwise.

    The user is named by ``user_id`` or by ``username`` (case-insensitive, as
    ``userByUsername``); a name that cannot be a username is None without a query."""
    if user_id is None:
        if username is None or len(username) > MAX_TEXT or not USERNAME_RE.fullmatch(username):
            return None
        named = await user_rows.get_by_username(unit.session, username)
        if named is None:
            return None
        user_id = named.id
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
