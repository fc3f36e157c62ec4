"""SQL for login sessions and their rotated refresh tokens."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from stridegraph.db.fast_read import SessionReads
from stridegraph.db.models import RotatedRefreshToken, Session, User
from stridegraph.db.viewer_lookup import ViewerLookup

#: The viewer lookup by access token: of the session its id, owner and times.
_BY_ACCESS_HASH = ViewerLookup(
    Session,
    (Session.id, Session.user_id, Session.created_at, Session.last_used_at),
    Session.access_token_hash == bindparam("access_hash"),
    Session.revoked_at.is_(None),
    Session.access_expires_at > bindparam("now"),
)


async def find_active_by_access_hash(
    engine: AsyncEngine, reads: SessionReads, access_hash: bytes, now: dt.datetime
) -> tuple[SimpleNamespace, User] | None:
    """The live session holding this access token and its user (``db/viewer_lookup``)."""
    return await _BY_ACCESS_HASH.find(engine, reads, access_hash=access_hash, now=now)


async def access_token_expired(session: AsyncSession, access_hash: bytes, now: dt.datetime) -> bool:
    """Whether this access token belongs to an unrevoked session of an active user whose
    access token has expired but whose refresh token has not: the one bad token a client
    can cure by refreshing. Asked only after the live lookup failed."""
    found = await session.scalar(
        select(Session.id)
        .join(User, User.id == Session.user_id)
        .where(
            Session.access_token_hash == access_hash,
            Session.revoked_at.is_(None),
            Session.access_expires_at <= now,
            Session.refresh_expires_at > now,
            User.active.is_(True),
        )
    )
    return found is not None


async def find_by_refresh_hash(
    session: AsyncSession, refresh_hash: bytes
) -> tuple[Session, User] | None:
    """The session whose current refresh token has this hash (live or not) and its user."""
    row = (
        await session.execute(
            select(Session, User)
            .join(User, User.id == Session.user_id)
            .where(Session.refresh_token_hash == refresh_hash)
        )
    ).first()
    return (row[0], row[1]) if row else None


def _rowcount(result: Any) -> int:
    """How many rows an UPDATE matched."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def add(session: AsyncSession, row: Session) -> Session:
    session.add(row)
    return row


async def rotate(
    session: AsyncSession,
    session_id: int,
    *,
    old_refresh_hash: bytes,
    access_hash: bytes,
    access_expires_at: dt.datetime,
    refresh_hash: bytes,
    refresh_expires_at: dt.datetime,
    now: dt.datetime,
) -> bool:
    """Swap in new token hashes if the session still holds ``old_refresh_hash`` and is live.

    The condition makes rotation a compare-and-swap: of two concurrent refreshes with the
    same token exactly one wins (the database's row lock decides)."""
    result = await session.execute(
        update(Session)
        .where(
            Session.id == session_id,
            Session.refresh_token_hash == old_refresh_hash,
            Session.revoked_at.is_(None),
        )
        .values(
            access_token_hash=access_hash,
            access_expires_at=access_expires_at,
            refresh_token_hash=refresh_hash,
            refresh_expires_at=refresh_expires_at,
            generation=Session.generation + 1,
            last_used_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def add_rotated(
    session: AsyncSession, token_hash: bytes, session_id: int, now: dt.datetime
) -> None:
    session.add(RotatedRefreshToken(token_hash=token_hash, session_id=session_id, rotated_at=now))


async def find_rotated(session: AsyncSession, token_hash: bytes) -> RotatedRefreshToken | None:
    return await session.get(RotatedRefreshToken, token_hash)


async def get(session: AsyncSession, session_id: int) -> Session | None:
    return await session.get(Session, session_id, populate_existing=True)


async def revoke(
    session: AsyncSession, session_id: int, now: dt.datetime, *, user_id: int | None = None
) -> bool:
    """Revoke one live session (only if it belongs to ``user_id`` when given)."""
    query = update(Session).where(Session.id == session_id, Session.revoked_at.is_(None))
    if user_id is not None:
        query = query.where(Session.user_id == user_id)
    result = await session.execute(
        query.values(revoked_at=now).execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def revoke_for_user(
    session: AsyncSession, user_id: int, now: dt.datetime, *, keep_session_id: int | None = None
) -> int:
    """Revoke every live session of a user (optionally all but one); returns how many."""
    query = update(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None))
    if keep_session_id is not None:
        query = query.where(Session.id != keep_session_id)
    result = await session.execute(query.values(revoked_at=now))
    return _rowcount(result)


async def list_live_for_user(
    session: AsyncSession, user_id: int, now: dt.datetime
) -> list[Session]:
    """Sessions that can still be refreshed, most recently used first."""
    rows = await session.scalars(
        select(Session)
        .where(
            Session.user_id == user_id,
            Session.revoked_at.is_(None),
            Session.refresh_expires_at > now,
        )
        .order_by(Session.last_used_at.desc(), Session.id.desc())
    )
    return list(rows)
