"""SQL for the kinds of security mail each user turned off."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.models import NotificationOptOut


async def for_user(session: AsyncSession, user_id: int) -> set[str]:
    rows = await session.scalars(
        select(NotificationOptOut.kind).where(NotificationOptOut.user_id == user_id)
    )
    return set(rows)


async def replace(session: AsyncSession, user_id: int, kinds: Sequence[str]) -> None:
    """Make ``kinds`` the user's opt-outs, exactly."""
    await session.execute(delete(NotificationOptOut).where(NotificationOptOut.user_id == user_id))
    session.add_all(NotificationOptOut(user_id=user_id, kind=kind) for kind in kinds)
    await session.flush()
