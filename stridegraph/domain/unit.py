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
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stridegraph.config import Settings

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

    def now(self) -> dt.datetime:
        return self.clock()


AfterCommit = Callable[[], Awaitable[None] | None]


@dataclass
class Unit:
    """One request's database session plus its after-commit work.

    Strawberry resolves sibling fields concurrently, and an ``AsyncSession`` must not be used
    by two coroutines at once, so every use goes through :meth:`run`, :meth:`transaction` or
    :meth:`with_session`: one at a time, each run to completion even when its caller is
    cancelled.
    """

    services: Services
    session: AsyncSession
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _after_commit: list[AfterCommit] = field(default_factory=list)
    _in_flight: set[asyncio.Future[Any]] = field(default_factory=set)
    _closed: bool = False

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def now(self) -> dt.datetime:
        return self.services.now()

    def after_commit(self, callback: AfterCommit) -> None:
        self._after_commit.append(callback)

    async def commit(self) -> None:
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
        session = self.session
        if session.in_transaction() and not (session.new or session.dirty or session.deleted):
            await session.commit()

    async def rollback(self) -> None:
        self._after_commit.clear()
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
            await run_to_completion(self.session.close())
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

    async def with_session(
        self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any
    ) -> T:
        """Run ``fn(session, *args, **kwargs)`` (a read from ``db``) under the request lock."""
        return await self._exclusive(lambda: fn(self.session, *args, **kwargs))

    async def run(self, fn: Callable[..., Awaitable[Any]], /, **kwargs: Any) -> Any:
        """Run a read-only domain function under the request lock."""
        return await self._exclusive(lambda: fn(self, **kwargs))

    async def transaction(self, fn: Callable[..., Awaitable[Any]], /, **kwargs: Any) -> Any:
        """Run a domain function as one transaction: commit on success, roll back on error."""

        async def work() -> Any:
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
