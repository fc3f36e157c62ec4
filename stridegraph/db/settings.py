"""SQL for the single server-settings row."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.models import ServerSettings


async def get(session: AsyncSession) -> ServerSettings:
    """The settings row; the initial migration creates it, so it always exists."""
    row = await session.get(ServerSettings, 1)
    if row is None:  # a database somebody emptied by hand: recreate the defaults
        row = ServerSettings(id=1)
        session.add(row)
        await session.flush()
    return row
