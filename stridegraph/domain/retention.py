"""Retention: what is dead and for how long it is kept, and the purge that removes it, run on
a schedule inside the server (:class:`PurgeSchedule`) or by hand (``stridegraph purge``).

Without it, sessions, their refresh chains, one-time tokens, MFA challenges, login attempts
and delivered mail would grow without bound; so would security events (kept a year by
default), expired data exports (row and archive file), and the started external sign-ins
(``oauth_states``) and passkey ceremonies (``passkey_challenges``) nobody finished. A row is purged only once nothing reads it any
more: sessions and API tokens some time after they were revoked or expired (so a user's
"why was I signed out" still has an answer for a while), one-time tokens and MFA challenges
after use or expiry, login attempts only once they are older than the longest window the
rate limits count over (``ratelimit.horizon``; a shorter setting is ignored, so the lockout
always holds), and mail once delivered.

Every replica runs the schedule, but one round runs at a time: the round's guard
transaction holds a PostgreSQL advisory lock (transaction-scoped, so correct behind
PgBouncer in transaction mode) and a replica that cannot take it skips the round. The work
itself is batches of at most ``PURGE_BATCH`` rows, each batch its own short transaction, so
the purge never holds many row locks or a long write lock (SQLite has one writer).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field

from stridegraph.config import Settings
from stridegraph.db import retention as rows
from stridegraph.db.retention import PurgeRule
from stridegraph.db.round_trips import spawn_background
from stridegraph.domain import export
from stridegraph.domain.ratelimit import horizon
from stridegraph.domain.unit import Services

log = logging.getLogger("stridegraph.retention")

#: The first round comes at most this long after start (less when the interval is shorter).
FIRST_ROUND_WITHIN = 60.0
#: Each interval is stretched or shrunk by up to this fraction, so replicas drift apart.
JITTER = 0.2


@dataclass
class PurgeReport:
    """What one round did: rows deleted per rule, DELETE statements sent, and whether the
    round was skipped because another replica held the lock."""

    counts: dict[str, int] = field(default_factory=dict)
    statements: int = 0
    skipped: bool = False


def rules(settings: Settings, now: dt.datetime) -> list[PurgeRule]:
    """Every table's purge rule, in order (a session's refresh chain before the session)."""

    def ago(seconds: int) -> dt.datetime:
        return now - dt.timedelta(seconds=seconds)

    sessions_cutoff = ago(settings.retention_sessions_seconds)
    attempts_kept = max(
        dt.timedelta(seconds=settings.retention_login_attempts_seconds), horizon(settings)
    )
    return [
        rows.rotated_refresh_tokens(
            cutoff=sessions_cutoff,
            rotated_before=sessions_cutoff
            - dt.timedelta(seconds=settings.refresh_token_ttl_seconds),
        ),
        rows.sessions(cutoff=sessions_cutoff),
        rows.one_time_tokens(cutoff=ago(settings.retention_tokens_seconds)),
        rows.mfa_challenges(cutoff=ago(settings.retention_mfa_challenges_seconds)),
        rows.login_attempts(before=now - attempts_kept),
        rows.api_tokens(cutoff=ago(settings.retention_api_tokens_seconds)),
        rows.outbox_sent(cutoff=ago(settings.retention_outbox_sent_seconds)),
        rows.security_events(cutoff=ago(settings.retention_security_events_seconds)),
        rows.oauth_states(now=now),
        rows.passkey_challenges(now=now),
    ]


async def purge(
    services: Services, *, batch: int | None = None, stop: asyncio.Event | None = None
) -> PurgeReport:
    """One round: under the advisory lock, delete every rule's dead rows in batches until a
    batch deletes fewer than the limit. ``stop`` (set at shutdown) ends the round between
    batches; what is left waits for the next round."""
    settings = services.settings
    limit = batch or settings.purge_batch
    report = PurgeReport()
    async with services.sessions() as guard, guard.begin():
        if not await rows.try_lock(guard):
            report.skipped = True
            return report
        for rule in rules(settings, services.now()):
            report.counts.setdefault(rule.name, 0)
            while stop is None or not stop.is_set():
                async with services.sessions() as session, session.begin():
                    deleted = await rows.delete_batch(session, rule, limit)
                report.statements += 1
                report.counts[rule.name] += deleted
                if deleted < limit:
                    break
        if stop is None or not stop.is_set():
            # rows and files: not a plain DELETE rule (the archive goes after its row)
            report.counts["data_exports"] = await export.purge_expired(services, batch=limit)
            report.statements += 1
    return report


def first_delay(interval: float) -> float:
    """Shortly after start, at a random moment so replicas started together do not align."""
    return min(interval, FIRST_ROUND_WITHIN) * random.uniform(0.5, 1.0)  # noqa: S311


def next_delay(interval: float) -> float:
    return interval * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311


OnPurged = Callable[[Mapping[str, int]], None]


class PurgeSchedule:
    """The in-server schedule: a background task started and stopped by the app's lifespan.
    A failed round is logged and retried at the next interval; it never stops the server."""

    def __init__(self, services: Services, *, on_purged: OnPurged | None = None) -> None:
        self.services = services
        self.on_purged = on_purged
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the schedule, unless ``PURGE_INTERVAL`` is 0 (off)."""
        if self.services.settings.purge_interval_seconds > 0 and self._task is None:
            self._task = spawn_background(self._run(), name="stridegraph-purge")

    async def stop(self) -> None:
        """Let a running round finish its current batch (never cut a statement off), then
        end the task."""
        self._stop.set()
        if self._task is not None:
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        interval = float(self.services.settings.purge_interval_seconds)
        delay = first_delay(interval)
        while not self._stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
                return
            await self._round()
            delay = next_delay(interval)

    async def _round(self) -> None:
        try:
            report = await purge(self.services, stop=self._stop)
        except Exception:
            log.exception("retention purge failed; retried next round")
            return
        if report.skipped:
            log.info("retention purge skipped: another replica holds the lock")
            return
        log.info("retention purge", extra={"purged": report.counts})
        if self.on_purged is not None:
            self.on_purged(report.counts)
