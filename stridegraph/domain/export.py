"""Data export: a ZIP of everything the service holds about a user, built in the background.

``requestDataExport`` only writes a ``pending`` row (one at a time per user: a partial unique
index; at most ``EXPORT_MAX_PER_DAY`` a day) and, once that committed, starts :func:`build`
in a background task: it reads every part in a session of its own, builds the ZIP and writes
it under ``DATA_DIR/exports`` off the event loop (``asyncio.to_thread``), then marks the row
``ready`` (downloadable for ``EXPORT_TTL``, 7 days by default) and mails the owner a link,
in one transaction. ``GET /exports/{id}`` serves it to its owner only; the scheduled purge
(``domain/retention.py``) deletes the row and the file once expired. A build that died with
its process leaves a ``pending`` row that stops blocking new requests after
:data:`BUILD_TIMEOUT` and is purged like a failed one.

The archive holds ``manifest.json``, one JSON document per part (:data:`PARTS`) and a
``README.txt`` in the user's language; every document carries ``format`` and ``version``
(:data:`FORMAT`, :data:`VERSION`; the README's "Data export" section documents the schema).
Parts are a registry of small functions, one per part: a capability that owns user data
adds its part with ``@part(name)`` (passkeys and identities have theirs). No part exports a hash,
a secret or key material: each names the columns it exports.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import secrets
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db import data_exports as export_rows
from stridegraph.db import security_events as event_rows
from stridegraph.db.models import DataExport, User
from stridegraph.db.round_trips import spawn_background
from stridegraph.domain import mail_templates, notices, photos
from stridegraph.domain import security_events as events
from stridegraph.domain.errors import DomainError, ErrorCode, Forbidden, Unauthenticated
from stridegraph.domain.ratelimit import too_many_attempts
from stridegraph.domain.scopes import PROFILE_READ, PROFILE_WRITE
from stridegraph.domain.security_events import EventType
from stridegraph.domain.unit import Services, Unit, open_unit
from stridegraph.domain.viewer import Viewer

log = logging.getLogger("stridegraph.export")

FORMAT = "stridegraph-export"
#: Raised when a part's shape changes incompatibly; documented in the README.
VERSION = 1
#: A pending export older than this is taken for dead (its process stopped mid-build).
BUILD_TIMEOUT = dt.timedelta(hours=1)
EXPORT_PATH = "/exports"
DAY = dt.timedelta(days=1)

PartReader = Callable[[AsyncSession, User], Awaitable[Any]]
#: name -> reader; the order is the archive's.
PARTS: dict[str, PartReader] = {}


def part(name: str) -> Callable[[PartReader], PartReader]:
    """Register ``fn(session, user)`` as the export's part ``name`` (``name.json``)."""

    def register(fn: PartReader) -> PartReader:
        PARTS[name] = fn
        return fn

    return register


def exports_dir(services: Services) -> Path:
    return services.settings.data_dir / "exports"


# --------------------------------------------------------------------------- the parts


PROFILE_COLUMNS = (
    "id",
    "username",
    "name",
    "email",
    "email_verified",
    "city",
    "birthdate",
    "preferred_language",
    "gender",
    "units",
    "height",
    "max_heart_rate",
    "first_day_of_week",
    "currency",
    "access_type",
    "active",
    "mfa_enabled",
    "pending_admin_approval",
    "password_changed_at",
    "created_at",
    "updated_at",
)


@part("profile")
async def _profile(session: AsyncSession, user: User) -> Any:
    data = export_rows.columns(user, PROFILE_COLUMNS)
    data["photo"] = "photo" + Path(user.photo_path).suffix if user.photo_path else None
    return data


@part("privacy_settings")
async def _privacy(session: AsyncSession, user: User) -> Any:
    row = await export_rows.privacy(session, user.id)
    if row is None:
        return None
    names = tuple(c.name for c in row.__table__.columns if c.name != "user_id")
    return export_rows.columns(row, names)


@part("sessions")
async def _sessions(session: AsyncSession, user: User) -> Any:
    names = ("id", "created_at", "last_used_at", "client_address", "user_agent", "revoked_at")
    return [export_rows.columns(row, names) for row in await export_rows.sessions(session, user.id)]


@part("api_tokens")
async def _api_tokens(session: AsyncSession, user: User) -> Any:
    names: tuple[str, ...] = ("id", "name", "token_prefix", "scopes", "created_at")
    names += ("expires_at", "last_used_at", "revoked_at")
    return [
        export_rows.columns(row, names) for row in await export_rows.api_tokens(session, user.id)
    ]


@part("passkeys")
async def _passkeys(session: AsyncSession, user: User) -> Any:
    """What the owner sees of each passkey; never its credential id, public key or
    signature counter (the credential id names it to the authenticator and the relying
    party, and is of no use to the owner)."""
    names: tuple[str, ...] = ("id", "name", "created_at", "last_used_at")
    names += ("backup_eligible", "backed_up")
    return [
        {
            **export_rows.columns(row, names),
            "transports": [t for t in row.transports.split(",") if t],
        }
        for row in await export_rows.passkeys(session, user.id)
    ]


@part("identities")
async def _identities(session: AsyncSession, user: User) -> Any:
    """The links of ``user_identity_providers``: the provider's slug and the subject (the
    account's id at that provider, which is the user's data); the provider issues no token
    that is kept."""
    return [
        export_rows.columns(row, ("id", "provider", "subject", "created_at"))
        for row in await export_rows.identities(session, user.id)
    ]


@part("security_events")
async def _security_events(session: AsyncSession, user: User) -> Any:
    names: tuple[str, ...] = ("id", "at", "type", "actor_id", "session_id")
    names += ("client_address", "user_agent", "detail")
    return [
        export_rows.columns(row, names) for row in await event_rows.for_export(session, user.id)
    ]


# --------------------------------------------------------------------------- requesting


def _owner(viewer: Viewer | None, scope: str) -> Viewer:
    if viewer is None:
        raise Unauthenticated("You must be signed in.")
    if not viewer.has(scope):
        raise Forbidden(f"This needs the {scope} scope.")
    return viewer


async def request_data_export(unit: Unit, *, viewer: Viewer | None) -> DataExport:
    """Start an export of the viewer's data; TOO_MANY_ATTEMPTS while one is being made or
    once ``EXPORT_MAX_PER_DAY`` were requested within a day (with the delay until the next
    may be)."""
    me = _owner(viewer, PROFILE_WRITE)
    now = unit.now()
    await export_rows.fail_stale(unit.session, me.user_id, started_before=now - BUILD_TIMEOUT)
    recent = await export_rows.requested_since(unit.session, me.user_id, now - DAY)
    if len(recent) >= unit.settings.export_max_per_day:
        wait = recent[-unit.settings.export_max_per_day] + DAY - now
        raise too_many_attempts(
            max(1, int(wait.total_seconds()) + 1), "Too many data exports today."
        )
    try:
        row = await export_rows.add_pending(unit.session, me.user_id, now)
    except export_rows.ExportPending:
        raise DomainError.of(
            ErrorCode.TOO_MANY_ATTEMPTS, "An export of your data is being made already."
        ) from None
    await events.record(
        unit,
        type=EventType.DATA_EXPORT_REQUESTED,
        subject_id=me.user_id,
        viewer=me,
        detail={"dataExportId": row.id},
    )
    services, export_id, user_id = unit.services, row.id, me.user_id
    unit.after_commit(lambda: start_build(services, export_id=export_id, user_id=user_id))
    return row


_building: set[asyncio.Task[None]] = set()


def start_build(services: Services, *, export_id: int, user_id: int) -> None:
    """Run :func:`build` in the background (a reference is kept until it ends)."""
    task = spawn_background(
        build(services, export_id=export_id, user_id=user_id), name="stridegraph-export"
    )
    _building.add(task)
    task.add_done_callback(_building.discard)


async def wait_for_builds() -> None:
    """Until every build this process started has ended (shutdown and tests)."""
    while _building:
        await asyncio.wait(set(_building))


async def list_exports(unit: Unit, *, viewer: Viewer | None) -> list[DataExport]:
    """The viewer's exports, newest first (expired ones until the purge removes them)."""
    me = _owner(viewer, PROFILE_READ)
    return await export_rows.list_for_user(unit.session, me.user_id)


def is_downloadable(row: DataExport, now: dt.datetime) -> bool:
    return (
        row.state == "ready"
        and row.file_name is not None
        and row.expires_at is not None
        and row.expires_at > now
    )


async def file_for_owner(unit: Unit, *, viewer: Viewer | None, export_id: int) -> Path | None:
    """The archive's file for its owner (``profile:read``) while it is downloadable; None
    for anything else (another user's, unknown, pending, expired: one answer)."""
    me = _owner(viewer, PROFILE_READ)
    row = await export_rows.get(unit.session, export_id)
    if row is None or row.user_id != me.user_id or not is_downloadable(row, unit.now()):
        return None
    return exports_dir(unit.services) / str(row.file_name)


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class Collected:
    documents: dict[str, Any]
    readme: str
    photo: Path | None
    photo_name: str | None


def _document(name: str, data: Any, now: dt.datetime) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "part": name, "exportedAt": now, "data": data}


@cache
def _readme_source(directory: str) -> str:
    root = resources.files(__package__).joinpath("export_readme")
    for candidate in (directory, mail_templates.FALLBACK):
        path = root.joinpath(f"{candidate}.txt")
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise LookupError("no export README")


def readme(user: User, now: dt.datetime, names: list[str]) -> str:
    """The archive's README, in the user's language (English where not translated)."""
    source = _readme_source(mail_templates.directory_for(user.preferred_language))
    return Template(source).substitute(
        username=user.username,
        created=now.strftime("%Y-%m-%d %H:%M UTC"),
        version=str(VERSION),
        parts="\n".join(f"- {name}.json" for name in names),
    )


async def collect(session: AsyncSession, services: Services, user: User) -> Collected:
    """Every part's document, the README and the photo's path."""
    now = services.now()
    documents = {name: _document(name, await fn(session, user), now) for name, fn in PARTS.items()}
    photo = photos.file_for(services.settings.photos_dir, user.photo_path)
    photo_name = "photo" + Path(user.photo_path).suffix if user.photo_path else None
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "exportedAt": now,
        "userId": user.id,
        "parts": [f"{name}.json" for name in PARTS],
        "files": [photo_name] if photo is not None and photo_name else [],
    }
    documents = {"manifest": manifest, **documents}
    text = await asyncio.to_thread(readme, user, now, list(PARTS))  # reads a package file
    return Collected(documents, text, photo, photo_name)


def zip_bytes(collected: Collected) -> bytes:
    """The archive (blocking: run it in a thread)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", collected.readme)
        for name, document in collected.documents.items():
            archive.writestr(
                f"{name}.json", orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
            )
        if collected.photo is not None and collected.photo_name and collected.photo.exists():
            archive.write(collected.photo, collected.photo_name)
    return buffer.getvalue()


async def build(services: Services, *, export_id: int, user_id: int) -> None:
    """Build, store and announce one export. Never raises: a failure marks it failed."""
    directory = exports_dir(services)
    name = f"{secrets.token_urlsafe(24)}.zip"
    try:
        async with services.sessions() as session:
            user = await export_rows.user(session, user_id)
            if user is None:
                return
            collected = await collect(session, services, user)
        data = await asyncio.to_thread(zip_bytes, collected)
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(photos.write_atomically, directory, name, data)
        async with open_unit(services) as unit:
            stored = await unit.transaction(
                _finish, export_id=export_id, user_id=user_id, name=name, size=len(data)
            )
        if not stored:
            await asyncio.to_thread(_remove, directory / name)
    except Exception:
        log.exception("data export failed", extra={"export_id": export_id})
        await asyncio.to_thread(_remove, directory / name)
        try:
            async with services.sessions() as session, session.begin():
                await export_rows.mark_failed(session, export_id, services.now())
        except Exception:
            log.warning("data export not marked failed", extra={"export_id": export_id})


async def _finish(unit: Unit, *, export_id: int, user_id: int, name: str, size: int) -> bool:
    now = unit.now()
    ttl = dt.timedelta(seconds=unit.settings.export_ttl_seconds)
    stored = await export_rows.mark_ready(
        unit.session, export_id, file_name=name, size_bytes=size, now=now, expires_at=now + ttl
    )
    user = await export_rows.user(unit.session, user_id)
    if not stored or user is None:
        return False
    notices.to_user(
        unit,
        user,
        "export_ready",
        link=download_url(unit.settings.public_url, export_id),
        days=str(max(1, ttl.days)),
    )
    return True


def download_url(public_url: str, export_id: int) -> str:
    return f"{public_url}{EXPORT_PATH}/{export_id}"


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- deletion, purge


async def discard_for_user(unit: Unit, *, user_id: int) -> None:
    """The user's archives go once the account's deletion committed (their rows cascade)."""
    names = await export_rows.file_names_for_user(unit.session, user_id)
    directory = exports_dir(unit.services)

    async def remove() -> None:
        for name in names:
            await asyncio.to_thread(_remove, directory / name)

    if names:
        unit.after_commit(remove)


async def purge_expired(services: Services, *, batch: int) -> int:
    """Delete expired (and long-failed) exports: first the row, then its file. Returns how
    many rows went."""
    deleted = 0
    directory = exports_dir(services)
    while True:
        async with services.sessions() as session, session.begin():
            rows = await export_rows.expired(session, services.now(), batch)
            names = [row.file_name for row in rows if row.file_name]
            count = await export_rows.delete_ids(session, [row.id for row in rows]) if rows else 0
        for file_name in names:
            await asyncio.to_thread(_remove, directory / file_name)
        deleted += count
        if len(rows) < batch:
            return deleted
