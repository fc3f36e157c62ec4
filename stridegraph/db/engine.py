"""Engine and session factory for SQLite (embedded default) and PostgreSQL over asyncpg.

No pool pre-ping: it costs three round trips (BEGIN, ``;``, ROLLBACK) on every checkout, i.e.
on every request, to guard against something that happens once per database restart. A
connection found dead instead fails its statement; :func:`is_dead_connection` recognises
that, SQLAlchemy then invalidates the whole pool (every older connection is replaced at its
next checkout), and the unit of work retries a read once on a fresh connection
(``domain/unit.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from stridegraph.db.round_trips import counter_for


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on (SQLite leaves them off), WAL so readers never block the writer."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(
    database_url: str,
    *,
    pool_size: int = 10,
    max_overflow: int | None = None,
    pool_timeout: float = 30.0,
    echo: bool = False,
) -> AsyncEngine:
    """Create the async engine (with its round-trip counter, ``db/round_trips.py``); for
    SQLite also create the file's directory. ``max_overflow`` defaults to ``pool_size``.

    ``hide_parameters``: a database error's text (and so every log line with its trace)
    would otherwise carry the statement's parameters, i.e. password hashes, e-mail
    addresses and token digests. The SQL itself stays, which is what a reader needs."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, echo=echo, hide_parameters=True, connect_args={"timeout": 10}
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        counter_for(engine)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        connect_args={"timeout": 5, "command_timeout": 30},
    )
    counter_for(engine)
    return engine


def is_dead_connection(exc: BaseException) -> bool:
    """Whether ``exc`` says the pooled connection itself is gone (server restarted, backend
    terminated, socket closed), as opposed to anything about the statement: then the same
    work can be tried again on a fresh connection. SQLAlchemy marks such an error
    ``connection_invalidated`` (it has already discarded the connection); asyncpg's own
    errors appear when it notices a closed connection before SQLAlchemy does."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, PendingRollbackError):
            return False
        if isinstance(seen, asyncpg.ConnectionDoesNotExistError):
            return True
        if isinstance(seen, asyncpg.InterfaceError) and "connection is closed" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
