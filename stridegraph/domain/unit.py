"""The unit of work a domain function runs in, and the process-wide services it may use.

The request (not the domain function) owns the transaction: ``graph`` opens a :class:`Unit`,
calls one domain function, then commits, or rolls back when it raised. Work that must only
happen once the data is durable (sending mail, deleting an old photo file) is registered with
:meth:`Unit.after_commit`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stridegraph.config import Settings

if TYPE_CHECKING:
    from stridegraph.domain.crypto import SecretCipher
    from stridegraph.domain.mail import Mailer
    from stridegraph.domain.passwords import PasswordService

log = logging.getLogger("stridegraph.unit")


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
    by two coroutines at once, so every use goes through :meth:`locked`.
    """

    services: Services
    session: AsyncSession
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _after_commit: list[AfterCommit] = field(default_factory=list)

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

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[AsyncSession]:
        async with self.lock:
            yield self.session

    async def run(self, fn: Callable[..., Awaitable[Any]], /, **kwargs: Any) -> Any:
        """Run a read-only domain function under the request lock."""
        async with self.lock:
            return await fn(self, **kwargs)

    async def transaction(self, fn: Callable[..., Awaitable[Any]], /, **kwargs: Any) -> Any:
        """Run a domain function as one transaction: commit on success, roll back on error."""
        async with self.lock:
            try:
                result = await fn(self, **kwargs)
            except BaseException:
                await self.rollback()
                raise
            await self.commit()
            return result


@asynccontextmanager
async def open_unit(services: Services) -> AsyncIterator[Unit]:
    """A unit with its own session, closed afterwards (used per request and by the CLI)."""
    async with services.sessions() as session:
        yield Unit(services=services, session=session)
