"""SQL for security events: adding them, listing them newest first with a keyset on
``(at, id)``, the "seen before" check behind new-device mail, and what a deleted user leaves.

Every listing orders by ``(at DESC, id DESC)`` and pages with a row-value comparison, so each
page seeks one of the ``ix_security_events_*`` indexes (``models.SecurityEvent``): the
subject's for ``mySecurityEvents``, the actor's, the type's or the time's for
``auditEvents`` with those filters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, literal, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.models import SecurityEvent


@dataclass(frozen=True)
class EventFilter:
    """What a listing is restricted to; None means any."""

    subject_id: int | None = None
    actor_id: int | None = None
    types: tuple[str, ...] | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class Position:
    """A keyset cursor's position: the event's time and id."""

    at: dt.datetime
    id: int


def add(
    session: AsyncSession,
    *,
    at: dt.datetime,
    type: str,
    actor_id: int | None,
    subject_id: int | None,
    session_id: int | None,
    client_address: str | None,
    user_agent: str | None,
    detail: dict[str, Any],
) -> SecurityEvent:
    """Add one event to ``session``'s transaction (flushed with it)."""
    row = SecurityEvent(
        at=at,
        type=type,
        actor_id=actor_id,
        subject_id=subject_id,
        session_id=session_id,
        client_address=client_address,
        user_agent=user_agent,
        detail=detail,
    )
    session.add(row)
    return row


def _conditions(spec: EventFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if spec.subject_id is not None:
        where.append(SecurityEvent.subject_id == spec.subject_id)
    if spec.actor_id is not None:
        where.append(SecurityEvent.actor_id == spec.actor_id)
    if spec.types and len(spec.types) == 1:
        where.append(SecurityEvent.type == spec.types[0])  # one type: the index's order holds
    elif spec.types:
        where.append(SecurityEvent.type.in_(spec.types))
    if spec.since is not None:
        where.append(SecurityEvent.at >= spec.since)
    if spec.until is not None:
        where.append(SecurityEvent.at < spec.until)
    return where


def _before(position: Position) -> ColumnElement[bool]:
    """Rows strictly older than ``position`` in (at, id) order (one index range)."""
    row = tuple_(SecurityEvent.at, SecurityEvent.id)
    return row < tuple_(
        literal(position.at, SecurityEvent.at.type), literal(position.id, SecurityEvent.id.type)
    )


async def list_events(
    session: AsyncSession, spec: EventFilter, *, after: Position | None, limit: int
) -> list[SecurityEvent]:
    """At most ``limit`` events matching ``spec``, newest first, older than ``after``."""
    where = _conditions(spec)
    if after is not None:
        where.append(_before(after))
    rows = await session.scalars(
        select(SecurityEvent)
        .where(*where)
        .order_by(SecurityEvent.at.desc(), SecurityEvent.id.desc())
        .limit(limit)
    )
    return list(rows)


async def seen_before(
    session: AsyncSession,
    *,
    subject_id: int,
    types: tuple[str, ...],
    client_address: str | None,
    user_agent: str | None,
    since: dt.datetime,
) -> tuple[bool, bool]:
    """(any event of ``types`` for the subject since ``since``, one of them with this very
    address and user-agent summary): the new-device rule's two facts, in one statement
    (two EXISTS, each served by the subject's index)."""
    base = and_(
        SecurityEvent.subject_id == subject_id,
        SecurityEvent.type.in_(types),
        SecurityEvent.at >= since,
    )
    same = and_(
        base,
        SecurityEvent.client_address.is_(None)
        if client_address is None
        else SecurityEvent.client_address == client_address,
        SecurityEvent.user_agent.is_(None)
        if user_agent is None
        else SecurityEvent.user_agent == user_agent,
    )
    row = (await session.execute(select(exists().where(base), exists().where(same)))).one()
    return bool(row[0]), bool(row[1])


async def recent(
    session: AsyncSession,
    *,
    type: str,
    subject_id: int | None,
    client_address: str | None,
    since: dt.datetime,
) -> bool:
    """Whether an event of ``type`` about ``subject_id`` (about nobody: from
    ``client_address``) was recorded since ``since``."""
    where = [SecurityEvent.type == type, SecurityEvent.at >= since]
    if subject_id is not None:
        where.append(SecurityEvent.subject_id == subject_id)
    else:
        where += [
            SecurityEvent.subject_id.is_(None),
            SecurityEvent.client_address == client_address,
        ]
    return bool(await session.scalar(select(exists().where(*where))))


async def forget_user(session: AsyncSession, user_id: int) -> None:
    """What a deleted account leaves in the history: its own events go (they would cascade
    anyway; explicit, so the rule is visible here); on events about other users it stays
    only as the actor's id, with its address, user agent and session cleared; on events
    about nobody (server settings) it is cleared altogether."""
    await session.execute(delete(SecurityEvent).where(SecurityEvent.subject_id == user_id))
    await session.execute(
        update(SecurityEvent)
        .where(SecurityEvent.actor_id == user_id, SecurityEvent.subject_id.is_not(None))
        .values(client_address=None, user_agent=None, session_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(SecurityEvent)
        .where(SecurityEvent.actor_id == user_id, SecurityEvent.subject_id.is_(None))
        .values(actor_id=None, client_address=None, user_agent=None, session_id=None)
        .execution_options(synchronize_session=False)
    )


async def for_export(session: AsyncSession, user_id: int) -> list[SecurityEvent]:
    """Every event about the user, oldest first (the export's part)."""
    rows = await session.scalars(
        select(SecurityEvent)
        .where(SecurityEvent.subject_id == user_id)
        .order_by(SecurityEvent.at, SecurityEvent.id)
    )
    return list(rows)
