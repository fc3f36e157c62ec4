"""SQL for user records."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.models import IdentityProviderLink, Integrations, PrivacySettings, User


async def get_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_many(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, User]:
    rows = await session.scalars(select(User).where(User.id.in_(user_ids)))
    return {u.id: u for u in rows}


async def get_by_username(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.username) == username.lower()))


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.email) == email.lower()))


async def privacy_for(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, PrivacySettings]:
    rows = await session.scalars(
        select(PrivacySettings).where(PrivacySettings.user_id.in_(user_ids))
    )
    return {p.user_id: p for p in rows}


async def integrations_for(
    session: AsyncSession, user_ids: Sequence[int]
) -> dict[int, Integrations]:
    rows = await session.scalars(select(Integrations).where(Integrations.user_id.in_(user_ids)))
    return {i.user_id: i for i in rows}


async def external_auth_counts(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, int]:
    rows = await session.execute(
        select(IdentityProviderLink.user_id, func.count())
        .where(IdentityProviderLink.user_id.in_(user_ids))
        .group_by(IdentityProviderLink.user_id)
    )
    return {user_id: count for user_id, count in rows}


class UniqueViolation(Exception):
    """An insert or update hit a unique index; ``column`` is ``username`` or ``email``."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def _which_unique(exc: IntegrityError) -> str | None:
    text = str(exc.orig).lower()
    if "username" in text:
        return "username"
    if "email" in text:
        return "email"
    return None


async def flush_unique(session: AsyncSession) -> None:
    """Flush pending changes inside a savepoint, turning a unique-index hit into
    :class:`UniqueViolation` while keeping the surrounding transaction usable."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        column = _which_unique(exc)
        if column is None:
            raise
        raise UniqueViolation(column) from None


async def insert_user(session: AsyncSession, user: User) -> User:
    """Insert a user with its privacy-settings and integrations rows (the seed's default data)."""
    session.add(user)
    await flush_unique(session)
    session.add(PrivacySettings(user_id=user.id))
    session.add(Integrations(user_id=user.id))
    await session.flush()
    return user


async def username_taken(
    session: AsyncSession, username: str, *, exclude_id: int | None = None
) -> bool:
    query = select(User.id).where(func.lower(User.username) == username.lower())
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return (await session.scalar(query.limit(1))) is not None


async def email_taken(session: AsyncSession, email: str, *, exclude_id: int | None = None) -> bool:
    query = select(User.id).where(func.lower(User.email) == email.lower())
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return (await session.scalar(query.limit(1))) is not None
