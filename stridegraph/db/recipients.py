"""SQL for choosing who gets a notice mailed (beyond the account it is about)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.enums import AccessType
from stridegraph.db.models import User


async def active_admins(session: AsyncSession) -> list[User]:
    """Every active administrator, oldest first (who is told about accounts to approve)."""
    rows = await session.scalars(
        select(User)
        .where(User.access_type == AccessType.ADMIN, User.active.is_(True))
        .order_by(User.id)
    )
    return list(rows)
