"""The unit of work a domain function runs in, and the process-wide services it may use.

The request (not the domain function) owns the transaction: ``graph`` opens a :class:`Unit`,
calls one domain function, then commits, or rolls back when it raised. Work that must only
happen once the data is durable (sending mail, deleting an old photo file) is registered with
:meth:`Unit.after_commit`.

Database work is never cut off mid-call. GraphQL cancels a field's siblings when a non-null
error bubbles up; cancelling an ``AsyncSession`` call halfway leaves its connection unusable
(the driver closes it), so the request's next statement, or its final rollback, would fail.
Every session use therefore runs to completion in a task of its own
(:func:`run_to_completion`) and only then lets the cancellation through, and
:meth:`Unit.close` discards, never raises on, a connection that is broken anyway.

Reads need no transaction. On PostgreSQL the reads of :meth:`Unit.run` and
:meth:`Unit.with_session` run on a connection in autocommit mode, so asyncpg sends each
statement alone: a ``me`` request is one round trip, not BEGIN, SELECT, COMMIT. Only
:meth:`Unit.transaction` opens a real transaction (BEGIN..COMMIT); afterwards the unit reads
in autocommit mode again. A read whose pooled connection turns out to be dead (the database
restarted: there is no pre-ping, see ``db/engine.py``) is retried once on a fresh
connection, as long as the unit has not written anything. SQLite is left as it was: its
driver never wraps a read in a transaction anyway.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from stridegraph.config import Settings
from stridegraph.db.engine import autocommit_reads, is_dead_connection, reads_autocommit
from stridegraph.domain.identity_client import OidcClient
from stridegraph.domain.usage import UsageRecorder

if TYPE_CHECKING:
    from stridegraph.domain.crypto import SecretCipher
    from stridegraph.domain.mail import Mailer
    from stridegraph.domain.passwords import PasswordService

log = logging.getLogger("stridegraph.unit")

T = TypeVar("T")


async def run_to_completion(work: Awaitable[T]) -> T:
    """Await ``work`` in a task that the caller's cancellation does not reach; a cancelled
    caller waits for the work to finish (so no SQL is abandoned mid-call) and is then
    cancelled as asked."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait((task,))
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not task.cancelled():
            task.exception()  # retrieved: the caller is gone, nobody else will look
        raise asyncio.CancelledError
    return task.result()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Services:
    """Everything process-wide a domain function may need; built once by the app."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    passwords: PasswordService
    mailer: Mailer
    cipher: SecretCipher
    clock: Callable[[], dt.datetime] = utcnow
    #: Credential last-used times, written out of band in batches (``domain/usage.py``).
    usage: UsageRecorder = field(default_factory=UsageRecorder)
    #: OpenID Connect: cached discovery documents and key sets (``domain/identity_client.py``).
    oidc: OidcClient = field(default_factory=OidcClient)

    def __post_init__(self) -> None:
        self.oidc.configure(
            timeout_seconds=self.settings.oidc_timeout_seconds,
            cache_seconds=self.settings.oidc_cache_seconds,
        )

    def now(self) -> dt.datetime:
        return self.clock()


AfterCommit = Callable[[], Awaitable[None] | None]


@dataclass(frozen=True)
class Origin:
    """Where a request came from, as security events record it: the client address per the
    proxy rules (``app.client_address``) and the raw User-Agent header."""

    client_address: str | None = None
    user_agent: str | None = None


class Unit:
    """One request's database session plus its after-commit work.

    Strawberry resolves sibling fields concurrently, and an ``AsyncSession`` must not be used
    by two coroutines at once, so every use goes through :meth:`run`, :meth:`transaction` or
    :meth:`with_session`: one at a time, each run to completion even when its caller is
    cancelled.

    The session is made when something first needs it, and instances loaded without it
    (:meth:`adopt`: the viewer, read straight off the driver) join it then: a request
    answered from the viewer alone (``me``) makes, tracks and closes no session at all.
    """

    def __init__(
        self,
        *,
        services: Services,
        session: AsyncSession | None = None,
        origin: Origin | None = None,
    ) -> None:
        self.services = services
        self._session = session
        self.lock = asyncio.Lock()
        #: Set by the request's context; None for the CLI and background work.
        self.origin = origin
        self._adopted: list[Any] = []
        self._after_commit: list[AfterCommit] = []
        self._in_flight: set[asyncio.Future[Any]] = set()
        self._closed = False
        #: The session holds a connection in autocommit mode for reads (PostgreSQL).
        self._reading = False
        #: A transaction has run: from then on a failed read is not retried.
        self._wrote = False

    @property
    def session(self) -> AsyncSession:
        """The unit's session, made on first use with the adopted instances in it."""
        session = self._session
        if session is None:
            session = self._session = self.services.sessions()
            if self._adopted:
                for instance in self._adopted:
                    session.add(instance)
                self._adopted.clear()
                # Adding began a transaction in memory only (no connection yet). Clean
                # instances leave nothing to flush, so ending it is no I/O and lets the
                # first read take its connection in autocommit mode. One changed before the
                # session was made (a mutation edits the viewer first) stays pending in
                # that transaction, which the request's own commit then writes.
                if not session.dirty:
                    session.sync_session.commit()
            if self._reading:
                autocommit_reads(session, True)
        return session

    @property
    def engine(self) -> AsyncEngine:
        """The engine the unit's sessions are bound to (reads that bypass the session)."""
        bind = self.services.sessions.kw.get("bind")
        if not isinstance(bind, AsyncEngine):
            raise TypeError("the session factory must be bound to an AsyncEngine")
        return bind

    def direct_reads(self) -> AsyncEngine | None:
        """The engine, for a read that may bypass the session on a pooled connection of its
        own (``db/fast_read.py``): when the session holds no transaction whose writes the
        read must see. None otherwise (the read then goes through :meth:`session_reads`)."""
        session = self._session
        if session is not None and session.in_transaction() and not self._reading:
            return None
        return self.engine

    async def session_reads(self, read: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """``read(session)``, for a ``db`` read called from a domain function, which runs
        under the request lock already (:meth:`run`, :meth:`transaction`)."""
        return await read(self.session)

    def adopt(self, instance: Any) -> None:
        """Make a loaded, detached instance persistent in the unit's session (now, or when
        the session is made), so changes to it are flushed like any loaded object's."""
        if self._session is None:
            self._adopted.append(instance)
        else:
            self._session.add(instance)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def now(self) -> dt.datetime:
        return self.services.now()

    def after_commit(self, callback: AfterCommit) -> None:
        self._after_commit.append(callback)

    async def commit(self) -> None:
        self._stop_reading()
        await self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                result = callback()
                if result is not None:
                    await result
            except Exception:
                log.exception("after-commit work failed")

    async def release(self) -> None:
        """End a transaction that has only read, so no pooled connection is held while the
        request waits on slow work (argon2 queues, other side transactions). Loaded objects
        stay usable (the session does not expire them on commit). A no-op once something
        was written: that transaction belongs to the request and ends with it."""
        session = self._session
        if session is None:
            return
        if session.in_transaction() and not (session.new or session.dirty or session.deleted):
            self._stop_reading()
            await session.commit()

    async def rollback(self) -> None:
        self._after_commit.clear()
        self._stop_reading()
        await self.session.rollback()

    async def close(self) -> None:
        """End the session, rolling back whatever is still open. Never raises: a connection
        a failed or interrupted call left unusable is invalidated (the pool discards it) and
        logged; the answer the client gets is already decided.

        Work still in flight (a DataLoader batch whose waiters were all cancelled goes on in
        its own task) is waited for first, and the unit takes no new work afterwards."""
        self._closed = True
        self._after_commit.clear()
        try:
            while self._in_flight:
                await run_to_completion(asyncio.wait(set(self._in_flight)))
            if self._session is None:  # never made: nothing to end
                return
            await run_to_completion(self._session.close())
        except Exception:
            log.warning("discarded a broken database connection", exc_info=True)
            with suppress(Exception):
                await self.session.invalidate()

    async def _exclusive(self, work: Callable[[], Awaitable[T]]) -> T:
        """``work`` under the request lock, run to completion whatever happens to the
        caller (see the module docstring)."""
        if self._closed:
            raise RuntimeError("this unit of work is closed")

        async def locked() -> T:
            async with self.lock:
                return await work()

        task = asyncio.ensure_future(locked())
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return await run_to_completion(task)

    def _autocommit_reads(self) -> bool:
        return reads_autocommit(self.engine)

    def _begin_read(self) -> None:
        """Have the session take its connection in autocommit mode, when it first needs
        one, unless it is in a transaction already (whose reads then belong to it). No
        round trip: asyncpg switches modes on the client side; and a domain function that
        reads nothing takes no connection at all."""
        session = self._session
        if self._reading or not self._autocommit_reads():
            return
        if session is not None and session.in_transaction():
            return
        self._reading = True
        if session is not None:  # otherwise the session is made in this mode (``session``)
            autocommit_reads(session, True)

    def _stop_reading(self) -> None:
        self._reading = False
        if self._session is not None:
            autocommit_reads(self._session, False)

    async def _end_read(self) -> None:
        """Hand the autocommit connection back so what follows begins a real transaction
        (committing an autocommit "transaction" sends nothing)."""
        if self._reading:
            self._stop_reading()
            if self.session.in_transaction():
                await self.session.commit()

    def _may_retry(self, exc: BaseException) -> bool:
        session = self.session
        return (
            is_dead_connection(exc)
            and not self._wrote
            and not (session.new or session.dirty or session.deleted)
        )

    async def _drop_dead_connection(self) -> None:
        """Forget the dead connection (SQLAlchemy has invalidated it already) while keeping
        what was loaded: a rollback would expire every loaded object, and an expired
        attribute cannot be loaded lazily under asyncio, so they are set aside and put
        back unchanged."""
        session = self.session
        loaded = list(session.identity_map.values())
        session.expunge_all()
        self._stop_reading()
        try:
            await session.rollback()
        except Exception:
            log.warning("could not roll back a dead connection", exc_info=True)
            with suppress(Exception):
                await session.invalidate()
        for obj in loaded:
            session.add(obj)

    async def _read(self, work: Callable[[], Awaitable[T]]) -> T:
        """``work`` (reads only) in autocommit mode, once more on a fresh connection if the
        pooled one was dead."""

        async def attempt() -> T:
            self._begin_read()
            return await work()

        async def with_retry() -> T:
            try:
                return await attempt()
            except Exception as exc:
                if not self._may_retry(exc):
                    raise
                log.warning("database connection was dead; retrying the read on a fresh one")
            await self._drop_dead_connection()
            return await attempt()

        return await self._exclusive(with_retry)

    async def with_session(
        self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any
    ) -> T:
        """Run ``fn(session, *args, **kwargs)`` (a read from ``db``) under the request lock."""
        return await self._read(lambda: fn(self.session, *args, **kwargs))

    async def run(self, fn: Callable[..., Awaitable[Any]], /, **kwargs: Any) -> Any:
        """Run a read-only domain function under the request lock."""
        return await self._read(lambda: fn(self, **kwargs))

    async def transaction(self, fn: Callable[..., Awaitable[Any]], /, **kwargs: Any) -> Any:
        """Run a domain function as one transaction: commit on success, roll back on error.
        Not retried on a dead connection: a domain function may have had effects of its own
        (rate-limit reservations, hashing) that a second run would repeat."""

        async def work() -> Any:
            await self._end_read()
            self._wrote = True
            try:
                result = await fn(self, **kwargs)
            except BaseException:
                await self.rollback()
                raise
            await self.commit()
            return result

        return await self._exclusive(work)


@asynccontextmanager
async def open_unit(services: Services) -> AsyncIterator[Unit]:
    """A unit with its own session, closed afterwards (used per request and by the CLI)."""
    unit = Unit(services=services, session=services.sessions())
    try:
        yield unit
    finally:
        await unit.close()
