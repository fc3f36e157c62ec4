"""SQL for recorded login attempts (the rate limits' shared memory across workers)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.models import LoginAttempt


async def add(
    session: AsyncSession, *, account_key: str, client_address: str, now: dt.datetime
) -> int:
    row = LoginAttempt(account_key=account_key, client_address=client_address, created_at=now)
    session.add(row)
    await session.flush()
    return row.id


async def nth_latest(
    session: AsyncSession,
    *,
    since: dt.datetime,
    n: int,
    exclude_id: int,
    account_key: str | None = None,
    client_address: str | None = None,
) -> dt.datetime | None:
    """When the ``n``-th most recent attempt after ``since`` for this account (or address)
    was made, not counting ``exclude_id``; None when there are fewer than ``n``.

    One indexed statement answers both "is the limit reached?" and "until when?"."""
    query = select(LoginAttempt.created_at).where(
        LoginAttempt.created_at > since, LoginAttempt.id != exclude_id
    )
    if account_key is not None:
        query = query.where(LoginAttempt.account_key == account_key)
    if client_address is not None:
        query = query.where(LoginAttempt.client_address == client_address)
    query = query.order_by(LoginAttempt.created_at.desc()).offset(n - 1).limit(1)
    return await session.scalar(query)


async def record_once(
    session: AsyncSession,
    *,
    account_key: str,
    client_address: str,
    since: dt.datetime,
    now: dt.datetime,
) -> bool:
    """Add a row for ``account_key`` unless another was made after ``since``; True when added.

    Concurrent callers are serialised on the key until their transactions end: PostgreSQL
    by a transaction-scoped advisory lock (the statements after it see what the previous
    holder committed), SQLite by the writer lock its insert takes before the check."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            select(func.pg_advisory_xact_lock(func.hashtext(literal(account_key))))
        )
    mine = await add(session, account_key=account_key, client_address=client_address, now=now)
    earlier = await session.scalar(
        select(LoginAttempt.id)
        .where(
            LoginAttempt.account_key == account_key,
            LoginAttempt.created_at > since,
            LoginAttempt.id != mine,
        )
        .limit(1)
    )
    if earlier is None:
        return True
    await delete_one(session, mine)
    return False


async def delete_one(session: AsyncSession, attempt_id: int) -> None:
    await session.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt_id))


async def delete_for_accounts(session: AsyncSession, account_keys: list[str]) -> None:
    await session.execute(delete(LoginAttempt).where(LoginAttempt.account_key.in_(account_keys)))


async def purge_before(session: AsyncSession, before: dt.datetime) -> None:
    """Forget attempts too old to count for anything."""
    await session.execute(delete(LoginAttempt).where(LoginAttempt.created_at <= before))
