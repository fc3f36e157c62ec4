"""SQL for login sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.models import Session, User


async def find_active_by_access_hash(
    session: AsyncSession, access_hash: bytes, now: dt.datetime
) -> tuple[Session, User] | None:
    """The live session holding this access token and its user, in one statement."""
    row = (
        await session.execute(
            select(Session, User)
            .join(User, User.id == Session.user_id)
            .where(
                Session.access_token_hash == access_hash,
                Session.revoked_at.is_(None),
                Session.access_expires_at > now,
            )
        )
    ).first()
    return (row[0], row[1]) if row else None


def add(session: AsyncSession, row: Session) -> Session:
    session.add(row)
    return row


async def revoke_for_user(
    session: AsyncSession, user_id: int, now: dt.datetime, *, keep_session_id: int | None = None
) -> int:
    """Revoke every live session of a user (optionally all but one); returns how many."""
    query = update(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None))
    if keep_session_id is not None:
        query = query.where(Session.id != keep_session_id)
    result = await session.execute(query.values(revoked_at=now))
    return int(result.rowcount or 0)
