"""Single-use rows kept by their secret's digest (an OpenID sign-in's state, a passkey
ceremony's challenge): taken once, atomically, while live."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

R = TypeVar("R")


async def take(
    session: AsyncSession,
    model: type[R],
    digest_column: Any,
    digest: bytes,
    *,
    purpose: str,
    now: dt.datetime,
) -> R | None:
    """Mark the live, unused row of ``model`` with this digest and purpose used and return
    it; None when there is none. One ``UPDATE … RETURNING``, so of two concurrent uses only
    one gets it. ``model`` has ``purpose``, ``used_at`` and ``expires_at`` columns."""
    table: Any = model
    result = await session.scalars(
        update(table)
        .where(
            digest_column == digest,
            table.purpose == purpose,
            table.used_at.is_(None),
            table.expires_at > now,
        )
        .values(used_at=now)
        .returning(table)
        .execution_options(synchronize_session=False)
    )
    return result.first()
