"""SQL for one-time tokens (e-mail verification, password reset, e-mail change, MFA login)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.enums import TokenPurpose
from stridegraph.db.models import OneTimeToken


async def add(session: AsyncSession, row: OneTimeToken) -> OneTimeToken:
    session.add(row)
    await session.flush()
    return row


async def consume(
    session: AsyncSession,
    *,
    token_hash: bytes,
    purpose: TokenPurpose,
    now: dt.datetime,
    user_id: int | None = None,
) -> OneTimeToken | None:
    """Mark the live token with this hash and purpose used, and return it; None when there is
    none. One ``UPDATE … RETURNING``: of two concurrent uses only one gets the row (the other
    waits for the row lock, then no longer matches ``used_at IS NULL``)."""
    query = update(OneTimeToken).where(
        OneTimeToken.token_hash == token_hash,
        OneTimeToken.purpose == purpose,
        OneTimeToken.used_at.is_(None),
        OneTimeToken.expires_at > now,
    )
    if user_id is not None:
        query = query.where(OneTimeToken.user_id == user_id)
    result = await session.scalars(
        query.values(used_at=now)
        .returning(OneTimeToken)
        .execution_options(synchronize_session=False)
    )
    return result.first()


async def invalidate(
    session: AsyncSession, *, user_id: int, purposes: tuple[TokenPurpose, ...], now: dt.datetime
) -> int:
    """Retire every unused token of these purposes for a user; returns how many."""
    result = await session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user_id,
            OneTimeToken.purpose.in_(purposes),
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_spent(session: AsyncSession, *, user_id: int, now: dt.datetime) -> None:
    """Drop a user's used or expired tokens (housekeeping when a new one is issued)."""
    await session.execute(
        delete(OneTimeToken)
        .where(
            OneTimeToken.user_id == user_id,
            or_(OneTimeToken.used_at.is_not(None), OneTimeToken.expires_at <= now),
        )
        .execution_options(synchronize_session=False)
    )


async def last_issued_at(
    session: AsyncSession, *, user_id: int, purpose: TokenPurpose
) -> dt.datetime | None:
    """When the newest token of this purpose was issued to the user (used or not)."""
    return await session.scalar(
        select(func.max(OneTimeToken.created_at)).where(
            OneTimeToken.user_id == user_id, OneTimeToken.purpose == purpose
        )
    )


async def find_live(
    session: AsyncSession, *, token_hash: bytes, purpose: TokenPurpose, now: dt.datetime
) -> OneTimeToken | None:
    """The live token with this hash and purpose, without using it up (a link that starts a
    two-step ceremony is used up only by its last step)."""
    return await session.scalar(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == token_hash,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
    )
