"""Engine and session factory for SQLite (embedded default) and PostgreSQL over asyncpg.

No pool pre-ping: it costs three round trips (BEGIN, ``;``, ROLLBACK) on every checkout, i.e.
on every request, to guard against something that happens once per database restart. A
connection found dead instead fails its statement; :func:`is_dead_connection` recognises
that, SQLAlchemy then invalidates the whole pool (every older connection is replaced at its
next checkout), and the unit of work retries a read once on a fresh connection
(``domain/unit.py``).

Behind a pooler in transaction mode (PgBouncer ``pool_mode = transaction``; setting
``STRIDEGRAPH_DB_TRANSACTION_POOLER``) consecutive transactions of one client connection may
run on different server connections. Two things then break and are switched off:

- asyncpg's and SQLAlchemy's prepared-statement caches (a statement prepared on one server
  connection is missing on the next: "prepared statement ... does not exist"); statements get
  unique names and are prepared per use;
- autocommit reads: SQLAlchemy's asyncpg dialect prepares and then executes a statement in
  two protocol exchanges, which outside a transaction the pooler may send to two servers. So
  reads run inside a transaction there (BEGIN and COMMIT travel with them: the price of the
  pooler, two round trips per request more).
"""

from __future__ import annotations

import uuid
import weakref
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from stridegraph.config import Settings
from stridegraph.db.round_trips import counter_for


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on (SQLite leaves them off), WAL so readers never block the writer."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


#: Engines that talk to PostgreSQL through a transaction-mode pooler.
_BEHIND_POOLER: weakref.WeakSet[Any] = weakref.WeakSet()


def _statement_name() -> str:
    return f"__sg_{uuid.uuid4().hex}__"


def reads_autocommit(bind: Any) -> bool:
    """Whether a read may run in autocommit mode on ``bind`` (an engine or connection):
    PostgreSQL, not behind a transaction-mode pooler (module docstring)."""
    if bind is None or bind.dialect.name != "postgresql":
        return False
    engine = getattr(bind, "engine", bind)
    return engine not in _BEHIND_POOLER


def make_engine(
    database_url: str,
    *,
    pool_size: int = 10,
    max_overflow: int | None = None,
    pool_timeout: float = 30.0,
    transaction_pooler: bool = False,
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
    connect_args: dict[str, Any] = {"timeout": 5, "command_timeout": 30}
    if transaction_pooler:
        connect_args |= {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _statement_name,
        }
    engine = create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        connect_args=connect_args,
    )
    if transaction_pooler:
        _BEHIND_POOLER.add(engine.sync_engine)
    counter_for(engine)
    return engine


def engine_for(settings: Settings) -> AsyncEngine:
    """The engine the settings describe: pool size, overflow, timeout and pooler mode."""
    return make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        transaction_pooler=settings.db_transaction_pooler,
    )


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


class _Session(Session):
    """A session that can be told to take its next connection in autocommit mode, without
    taking it yet: a read-only request whose domain function never touches the database
    (``me``, answered from the viewer) then checks nothing out of the pool."""

    autocommit_reads = False

    def _connection_for_bind(
        self, engine: Any, execution_options: Any = None, **kw: Any
    ) -> Connection:
        if self.autocommit_reads and not execution_options:
            trans = self._transaction
            if trans is None or engine not in trans._connections:
                execution_options = _AUTOCOMMIT
        return super()._connection_for_bind(engine, execution_options, **kw)


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def autocommit_reads(session: AsyncSession, on: bool) -> None:
    """Whether the session's next connection is taken in autocommit mode (reads only)."""
    sync = session.sync_session
    if isinstance(sync, _Session):
        sync.autocommit_reads = on


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=_Session
    )
