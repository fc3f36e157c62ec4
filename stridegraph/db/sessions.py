"""SQL for login sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
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
