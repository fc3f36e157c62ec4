"""SQL for recording when credentials were last used, many at a time (``domain/usage.py``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import case, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.models import ApiToken, Session

#: Rows per UPDATE: two bound parameters each, far below every backend's limit.
CHUNK = 500


async def record_sessions(session: AsyncSession, used: Mapping[int, dt.datetime]) -> None:
    """Set each session's ``last_used_at`` to its time, in one UPDATE per ``CHUNK``."""
    await _record(session, Session, used)


async def record_api_tokens(session: AsyncSession, used: Mapping[int, dt.datetime]) -> None:
    """Set each API token's ``last_used_at`` to its time, in one UPDATE per ``CHUNK``."""
    await _record(session, ApiToken, used)


async def _record(session: AsyncSession, model: Any, used: Mapping[int, dt.datetime]) -> None:
    """``UPDATE … SET last_used_at = CASE id WHEN … END WHERE id IN (…)``, never moving a
    time backwards (another worker may have written a later one)."""
    items = sorted(used.items())  # a fixed row order, so two workers' batches cannot deadlock
    for start in range(0, len(items), CHUNK):
        chunk = dict(items[start : start + CHUNK])
        new_time = case(chunk, value=model.id)
        await session.execute(
            update(model)
            .where(
                model.id.in_(chunk),
                or_(model.last_used_at.is_(None), model.last_used_at < new_time),
            )
            .values(last_used_at=new_time)
            .execution_options(synchronize_session=False)
        )
