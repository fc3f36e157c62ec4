"""When credentials were last used: recorded in memory, written out of band in batches.

The viewer lookup notices a stale ``last_used_at`` (older than a minute, ``domain/viewer.py``)
and only notes the use here. Writing it from the request would take a second pooled
connection while the request holds its first, and a burst of requests on idle sessions then
exhausts the pool (each waits for a connection that only another waiting request could free).
Instead one background task per process (started by the app's lifespan) writes whatever was
noted every :data:`FLUSH_INTERVAL`, on a connection of its own: one UPDATE per table, however
many credentials were used. Shutdown writes what is left.

"At most once a minute per credential" still holds: a credential is written only when its
stored time is over a minute old, and noting it twice before a flush writes it once. The time
written is that of the request, so it lags the truth by at most the flush interval, within
the documented precision ("accurate to about a minute"). A failed flush keeps its entries
for the next one; this is bookkeeping, it never fails a request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from contextlib import suppress

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stridegraph.db import last_used
from stridegraph.db.round_trips import spawn_background

log = logging.getLogger("stridegraph.usage")

FLUSH_INTERVAL = 5.0
#: Entries kept at most while the database cannot be written; beyond, new uses are dropped
#: (a last-used time is worth less than the memory of a worker cut off from its database).
MAX_PENDING = 100_000


class UsageRecorder:
    """Pending last-used times of sessions and API tokens, by id (latest time wins)."""

    def __init__(self, interval: float = FLUSH_INTERVAL) -> None:
        self.interval = interval
        self._sessions: dict[int, dt.datetime] = {}
        self._api_tokens: dict[int, dt.datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._factory: async_sessionmaker[AsyncSession] | None = None
        self._flushing = asyncio.Lock()

    @property
    def pending(self) -> int:
        return len(self._sessions) + len(self._api_tokens)

    def session_used(self, session_id: int, at: dt.datetime) -> None:
        _note(self._sessions, session_id, at, self.pending)

    def api_token_used(self, token_id: int, at: dt.datetime) -> None:
        _note(self._api_tokens, token_id, at, self.pending)

    def start(self, factory: async_sessionmaker[AsyncSession]) -> None:
        """Flush every ``interval`` seconds in the background (idempotent)."""
        self._factory = factory
        if self._task is None or self._task.done():
            self._task = spawn_background(self._loop(), name="stridegraph-usage-flush")

    async def stop(self) -> None:
        """Stop the background task and write what is pending."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        if self._factory is not None:
            await self.flush(self._factory)

    async def flush(self, factory: async_sessionmaker[AsyncSession] | None = None) -> None:
        """Write everything noted so far in one transaction of its own; on failure keep it
        for the next flush (merged with anything noted meanwhile)."""
        factory = factory or self._factory
        if factory is None:
            raise RuntimeError("no session factory to flush with")
        async with self._flushing:
            sessions, self._sessions = self._sessions, {}
            api_tokens, self._api_tokens = self._api_tokens, {}
            if not (sessions or api_tokens):
                return
            try:
                async with factory() as session, session.begin():
                    if sessions:
                        await last_used.record_sessions(session, sessions)
                    if api_tokens:
                        await last_used.record_api_tokens(session, api_tokens)
            except Exception:
                log.warning("could not record credential use", exc_info=True)
                for kept, into in ((sessions, self._sessions), (api_tokens, self._api_tokens)):
                    for key, at in kept.items():
                        _note(into, key, at, self.pending)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:  # flush logs its own failures; this is the last resort
                log.exception("credential use flush failed")


def _note(pending: dict[int, dt.datetime], key: int, at: dt.datetime, size: int) -> None:
    known = pending.get(key)
    if known is None:
        if size >= MAX_PENDING:
            return
        pending[key] = at
    elif at > known:
        pending[key] = at
