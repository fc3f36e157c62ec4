"""SQL for data exports: the per-user rows that track each archive, and the reads its parts
are built from (``domain/export.py``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.models import (
    ApiToken,
    DataExport,
    IdentityProviderLink,
    Passkey,
    PrivacySettings,
    Session,
    User,
)


class ExportPending(Exception):
    """The user already has an export in the making (the partial unique index said so)."""


async def fail_stale(session: AsyncSession, user_id: int, *, started_before: dt.datetime) -> None:
    """Mark the user's pending exports begun before ``started_before`` failed: their build
    died with its process, and must not block a new request forever."""
    await session.execute(
        update(DataExport)
        .where(
            DataExport.user_id == user_id,
            DataExport.state == "pending",
            DataExport.created_at < started_before,
        )
        .values(state="failed", completed_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def requested_since(
    session: AsyncSession, user_id: int, since: dt.datetime
) -> list[dt.datetime]:
    """When the user's exports since ``since`` were requested, oldest first (rate limit)."""
    rows = await session.scalars(
        select(DataExport.created_at)
        .where(DataExport.user_id == user_id, DataExport.created_at >= since)
        .order_by(DataExport.created_at)
    )
    return list(rows)


async def add_pending(session: AsyncSession, user_id: int, now: dt.datetime) -> DataExport:
    """A new pending export; :class:`ExportPending` when one is already being made (a
    savepoint keeps the request's transaction usable)."""
    row = DataExport(user_id=user_id, state="pending", created_at=now)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise ExportPending from None
    return row


async def get(session: AsyncSession, export_id: int) -> DataExport | None:
    return await session.get(DataExport, export_id)


async def list_for_user(session: AsyncSession, user_id: int) -> list[DataExport]:
    """The user's exports, newest first."""
    rows = await session.scalars(
        select(DataExport)
        .where(DataExport.user_id == user_id)
        .order_by(DataExport.created_at.desc(), DataExport.id.desc())
    )
    return list(rows)


async def file_names_for_user(session: AsyncSession, user_id: int) -> list[str]:
    rows = await session.scalars(
        select(DataExport.file_name).where(
            DataExport.user_id == user_id, DataExport.file_name.is_not(None)
        )
    )
    return [name for name in rows if name]


async def mark_ready(
    session: AsyncSession,
    export_id: int,
    *,
    file_name: str,
    size_bytes: int,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> bool:
    """Record the finished archive; False when the row is gone (the user was deleted
    meanwhile), so the caller removes the file again."""
    result = await session.execute(
        update(DataExport)
        .where(DataExport.id == export_id, DataExport.state == "pending")
        .values(
            state="ready",
            file_name=file_name,
            size_bytes=size_bytes,
            completed_at=now,
            expires_at=expires_at,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def mark_failed(session: AsyncSession, export_id: int, now: dt.datetime) -> None:
    await session.execute(
        update(DataExport)
        .where(DataExport.id == export_id, DataExport.state == "pending")
        .values(state="failed", completed_at=now)
        .execution_options(synchronize_session=False)
    )


async def expired(session: AsyncSession, now: dt.datetime, limit: int) -> list[DataExport]:
    """Exports to purge: past their download window, or failed a day ago."""
    rows = await session.scalars(
        select(DataExport)
        .where(
            (DataExport.expires_at < now)
            | (
                (DataExport.state == "failed")
                & (DataExport.created_at < now - dt.timedelta(days=1))
            )
        )
        .order_by(DataExport.id)
        .limit(limit)
    )
    return list(rows)


async def delete_ids(session: AsyncSession, ids: list[int]) -> int:
    result = await session.execute(delete(DataExport).where(DataExport.id.in_(ids)))
    return int(getattr(result, "rowcount", 0) or 0)


async def is_referenced(session: AsyncSession, file_name: str) -> bool:
    found = await session.scalar(
        select(DataExport.id).where(DataExport.file_name == file_name).limit(1)
    )
    return found is not None


# --------------------------------------------------------------------------- the parts' reads


async def user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def privacy(session: AsyncSession, user_id: int) -> PrivacySettings | None:
    return await session.get(PrivacySettings, user_id)


async def sessions(session: AsyncSession, user_id: int) -> list[Session]:
    rows = await session.scalars(
        select(Session).where(Session.user_id == user_id).order_by(Session.created_at)
    )
    return list(rows)


async def api_tokens(session: AsyncSession, user_id: int) -> list[ApiToken]:
    rows = await session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at)
    )
    return list(rows)


async def identities(session: AsyncSession, user_id: int) -> list[IdentityProviderLink]:
    rows = await session.scalars(
        select(IdentityProviderLink)
        .where(IdentityProviderLink.user_id == user_id)
        .order_by(IdentityProviderLink.created_at, IdentityProviderLink.id)
    )
    return list(rows)


async def passkeys(session: AsyncSession, user_id: int) -> list[Passkey]:
    rows = await session.scalars(
        select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at, Passkey.id)
    )
    return list(rows)


def columns(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """``names`` of ``row`` as a plain dict (the parts pick their columns explicitly: no
    hash or secret column is ever exported by accident)."""
    return {name: getattr(row, name) for name in names}
