"""SQL for the mail outbox: queue a row, claim due rows, record what delivery did.

A claim is one statement that marks rows ``sending`` with a lease and returns them. On
PostgreSQL its subquery locks the chosen rows ``FOR UPDATE SKIP LOCKED``, so concurrent
claimers (any worker of any replica) each take different rows and never wait on each other.
SQLite ignores the locking clause; there the claim is still a single conditional
``UPDATE … WHERE state = 'queued' …``, and SQLite runs one writer at a time, so a row is
claimed by whichever claimer writes first and is no longer due for the next one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from stridegraph.db.models import OUTBOX_STATES, OutboxMail

#: ``last_error`` is a class name and a reply code, never the server's text (it may echo
#: the recipient or the message).
ERROR_LENGTH = 200


@dataclass(frozen=True)
class Claimed:
    """A row this claimer holds until ``lease_until``, with what it takes to send it."""

    id: int
    message_id: str
    kind: str
    recipient: str
    subject: str
    body_text: str
    body_html: str | None
    attempts: int


def add(
    session: AsyncSession,
    *,
    message_id: str,
    kind: str,
    recipient: str,
    subject: str,
    body_text: str,
    body_html: str | None,
    now: dt.datetime,
) -> None:
    """Add the row to the session's transaction (no flush: it is written, or dropped, with
    the change that caused it)."""
    session.add(
        OutboxMail(
            message_id=message_id,
            kind=kind,
            recipient=recipient,
            subject=subject,
            body_text=body_text,
            body_html=body_html,
            state="queued",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def _due(now: dt.datetime) -> ColumnElement[bool]:
    """Queued and due, or claimed by someone whose lease ran out (it died mid-send)."""
    return or_(
        and_(OutboxMail.state == "queued", OutboxMail.next_attempt_at <= now),
        and_(OutboxMail.state == "sending", OutboxMail.lease_until <= now),
    )


async def claim(
    session: AsyncSession, *, claimer: str, now: dt.datetime, lease: dt.timedelta, limit: int
) -> list[Claimed]:
    """Mark up to ``limit`` due rows ``sending`` for ``claimer`` and return them; the caller
    commits at once so the claim is visible (and the locks released) before any SMTP."""
    # A MATERIALIZED CTE, not a plain ``IN (subquery)``: PostgreSQL may plan that as a
    # nested loop that rescans the subquery per row, and every rescan locks and returns new
    # rows, so the LIMIT would bound nothing (seen on a fresh, unanalysed table).
    chosen = (
        select(OutboxMail.id)
        .where(_due(now))
        .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("chosen")
        .prefix_with("MATERIALIZED")
    )
    result = await session.execute(
        update(OutboxMail)
        .where(OutboxMail.id.in_(select(chosen.c.id)), _due(now))
        .values(
            state="sending",
            attempts=OutboxMail.attempts + 1,
            claimed_at=now,
            claimed_by=claimer,
            lease_until=now + lease,
        )
        .returning(
            OutboxMail.id,
            OutboxMail.message_id,
            OutboxMail.kind,
            OutboxMail.recipient,
            OutboxMail.subject,
            OutboxMail.body_text,
            OutboxMail.body_html,
            OutboxMail.attempts,
        )
        .execution_options(synchronize_session=False)
    )
    return [
        Claimed(
            id=row.id,
            message_id=row.message_id,
            kind=row.kind,
            recipient=row.recipient,
            subject=row.subject,
            body_text=row.body_text or "",
            body_html=row.body_html,
            attempts=row.attempts,
        )
        for row in result
    ]


async def mark_sent(session: AsyncSession, *, id: int, now: dt.datetime) -> None:
    """Delivered: drop the bodies (the one-time link is gone), keep the metadata. Whoever
    holds the claim by now, the mail did go out, so ``sent`` wins."""
    await session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == id, OutboxMail.state != "sent")
        .values(
            state="sent",
            sent_at=now,
            body_text=None,
            body_html=None,
            claimed_by=None,
            lease_until=None,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )


async def mark_attempt_failed(
    session: AsyncSession,
    *,
    id: int,
    claimer: str,
    error: str,
    retry_at: dt.datetime | None,
) -> None:
    """Back to ``queued`` until ``retry_at``, or ``failed`` (bodies dropped) when None. Only
    while ``claimer`` still holds the row: after a lost lease its new holder decides."""
    values: dict[str, object] = {
        "claimed_by": None,
        "lease_until": None,
        "last_error": error[:ERROR_LENGTH],
    }
    if retry_at is None:
        values.update(state="failed", body_text=None, body_html=None)
    else:
        values.update(state="queued", next_attempt_at=retry_at)
    await session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == id, OutboxMail.claimed_by == claimer, OutboxMail.state == "sending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def release(session: AsyncSession, *, ids: list[int], claimer: str) -> None:
    """Hand back rows claimed but not tried (shutdown): queued again, the attempt not
    counted, claimable by any other worker at once."""
    if not ids:
        return
    await session.execute(
        update(OutboxMail)
        .where(
            OutboxMail.id.in_(ids),
            OutboxMail.claimed_by == claimer,
            OutboxMail.state == "sending",
        )
        .values(
            state="queued",
            attempts=OutboxMail.attempts - 1,
            claimed_by=None,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )


async def next_due(session: AsyncSession) -> dt.datetime | None:
    """When the next row becomes claimable (a retry's time, an expiring lease); None when
    nothing waits. Lets an idle loop sleep exactly as long as it may."""
    queued = (
        select(func.min(OutboxMail.next_attempt_at))
        .where(OutboxMail.state == "queued")
        .scalar_subquery()
    )
    leased = (
        select(func.min(OutboxMail.lease_until))
        .where(OutboxMail.state == "sending")
        .scalar_subquery()
    )
    row = (await session.execute(select(queued, leased))).one()
    found = [t for t in row if t is not None]
    if not found:
        return None
    # SQLite hands back naive values through a bare aggregate (no column type to convert).
    return min(t if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in found)


async def pending(session: AsyncSession) -> int:
    """Rows not finished yet (queued or sending)."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(OutboxMail)
            .where(OutboxMail.state.in_(("queued", "sending")))
        )
        or 0
    )


@dataclass(frozen=True)
class Stats:
    counts: dict[str, int]
    oldest_queued: dt.datetime | None


async def stats(session: AsyncSession) -> Stats:
    """Rows per state and the oldest queued row's creation, in one statement (``/metrics``)."""
    result = await session.execute(
        select(OutboxMail.state, func.count(), func.min(OutboxMail.created_at)).group_by(
            OutboxMail.state
        )
    )
    counts = dict.fromkeys(OUTBOX_STATES, 0)
    oldest: dt.datetime | None = None
    for state, count, first in result:
        counts[state] = int(count)
        if state == "queued" and first is not None:
            oldest = first if first.tzinfo else first.replace(tzinfo=dt.UTC)
    return Stats(counts=counts, oldest_queued=oldest)
