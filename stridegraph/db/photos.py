"""SQL for profile photos: the ``users.photo_path`` column holds the stored file's name."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.models import User


async def lock_user(session: AsyncSession, user_id: int) -> User | None:
    """The user row, locked until the transaction ends (PostgreSQL; SQLite serialises writers
    anyway), so two photo changes of one user cannot both read the same "old" file."""
    return await session.scalar(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def set_photo(session: AsyncSession, user: User, name: str | None) -> None:
    user.photo_path = name
    await session.flush()


async def is_referenced(session: AsyncSession, name: str) -> bool:
    """Whether any user's photo is the stored file ``name`` (files are shared by content)."""
    found = await session.scalar(select(User.id).where(User.photo_path == name).limit(1))
    return found is not None


async def referenced_names(session: AsyncSession) -> set[str]:
    """Every stored file name some user's photo points at."""
    rows = await session.scalars(
        select(User.photo_path).where(User.photo_path.is_not(None)).distinct()
    )
    return {name for name in rows if name}
