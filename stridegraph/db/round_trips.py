"""Count what is actually sent to the database, per engine, by kind.

``statement``: every statement SQLAlchemy executes (``before_cursor_execute``). ``begin``,
``commit`` and ``rollback``: only when the driver really sends them. SQLAlchemy fires its
``begin``/``commit`` events even when nothing goes over the wire (asyncpg in autocommit mode,
or a transaction that never ran a statement; pysqlite begins only before a write), so the
events are not counted as such: the driver connection's own transaction state decides.
``ping``: a pool pre-ping, should one ever be configured again.

The figures are what ``/metrics`` shows as ``stridegraph_db_round_trips_total`` and what the
tests and the bench use to hold a request to its round-trip budget. One counter per engine,
installed once (:func:`counter_for`), read at scrape time; reading it touches no database.

Work the server does on its own (the mail outbox loop, the batched last-used writes, the
scheduled purge, the scrape's outbox gauges) is counted apart, as ``background``: started
with :func:`spawn_background`, its statements never show up in a request's budget, so the
request figures stay exact while that work runs alongside.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolResetState

KINDS = ("statement", "begin", "commit", "rollback", "ping")
ORIGINS = ("request", "background")
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_ORIGIN: contextvars.ContextVar[str] = contextvars.ContextVar(
    "stridegraph_round_trip_origin", default="request"
)
T = TypeVar("T")


def spawn_background(work: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
    """Run ``work`` in a task whose round trips count as ``background`` (the context is a
    copy, so the caller's own statements keep their origin)."""
    context = contextvars.copy_context()
    context.run(_ORIGIN.set, "background")
    return asyncio.get_running_loop().create_task(work, name=name, context=context)


class RoundTrips:
    """Totals by origin and kind since the engine was created (monotonic, like a Prometheus
    counter)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {origin: dict.fromkeys(KINDS, 0) for origin in ORIGINS}
        self._watchers: list[Callable[[str], None]] = []

    def statement(self, sql: str) -> None:
        """One statement sent, through SQLAlchemy or straight on the driver connection
        (``db/fast_read.py``): counted, and shown to the watchers."""
        self.add("statement")
        for watcher in self._watchers:
            watcher(sql)

    def watch(self, watcher: Callable[[str], None]) -> None:
        """Call ``watcher`` with the text of every statement sent (tests count them)."""
        self._watchers.append(watcher)

    def unwatch(self, watcher: Callable[[str], None]) -> None:
        self._watchers.remove(watcher)

    def add(self, kind: str, n: int = 1) -> None:
        origin = _ORIGIN.get()
        with self._lock:
            self._counts[origin][kind] += n

    def snapshot(self, origin: str = "request") -> dict[str, int]:
        with self._lock:
            return dict(self._counts[origin])

    def total(self, origin: str = "request") -> int:
        with self._lock:
            return sum(self._counts[origin].values())


_COUNTERS: weakref.WeakKeyDictionary[Engine, RoundTrips] = weakref.WeakKeyDictionary()
_INSTALL = threading.Lock()


def counter_for(engine: AsyncEngine | Engine) -> RoundTrips:
    """The engine's counter, installing the listeners on first use (idempotent, so several
    apps sharing one engine, as in tests, count each round trip once)."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    with _INSTALL:
        found = _COUNTERS.get(sync)
        if found is None:
            found = _COUNTERS[sync] = RoundTrips()
            _install(sync, found)
        return found


def _driver_transaction_open(dbapi_connection: Any) -> bool:
    """Whether the driver connection is inside a transaction it started (so COMMIT or
    ROLLBACK would really be sent). asyncpg's adapter keeps its transaction object;
    sqlite3 tells through ``in_transaction``."""
    if dbapi_connection is None:
        return False
    if hasattr(dbapi_connection, "_transaction"):  # SQLAlchemy's asyncpg adapter
        return dbapi_connection._transaction is not None
    inner = getattr(dbapi_connection, "_connection", dbapi_connection)  # aiosqlite adapter
    inner = getattr(inner, "_conn", inner)  # aiosqlite.Connection -> sqlite3.Connection
    return bool(getattr(inner, "in_transaction", False))


def _begin_will_be_sent(dbapi_connection: Any, statement: str) -> bool:
    """Whether executing ``statement`` makes the driver send a BEGIN first."""
    if _driver_transaction_open(dbapi_connection):
        return False
    if hasattr(dbapi_connection, "_transaction"):  # asyncpg: lazily, unless autocommit
        return not dbapi_connection.autocommit
    # pysqlite (legacy transaction control) begins only before a data-changing statement
    if getattr(dbapi_connection, "isolation_level", None) is None:
        return False
    return statement.lstrip()[:7].upper().startswith(_WRITES)


def _install(engine: Engine, counts: RoundTrips) -> None:
    def before_cursor_execute(
        conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if _begin_will_be_sent(conn.connection.dbapi_connection, statement):
            counts.add("begin")
        counts.statement(statement)

    def on_commit(conn: Connection) -> None:
        if _driver_transaction_open(conn.connection.dbapi_connection):
            counts.add("commit")

    def on_rollback(conn: Connection) -> None:
        if _driver_transaction_open(conn.connection.dbapi_connection):
            counts.add("rollback")

    def on_reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
        # the pool's rollback-on-return, for a connection handed back mid-transaction
        if (
            state.asyncio_safe
            and not state.transaction_was_reset
            and _driver_transaction_open(dbapi_connection)
        ):
            counts.add("rollback")

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    event.listen(engine, "commit", on_commit)
    event.listen(engine, "rollback", on_rollback)
    event.listen(engine.pool, "reset", on_reset)

    dialect = engine.dialect
    ping: Callable[[Any], bool] = dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> bool:
        counts.add("ping")
        if _begin_will_be_sent(dbapi_connection, ";"):  # asyncpg wraps it in BEGIN/ROLLBACK
            counts.add("begin")
            counts.add("rollback")
        return ping(dbapi_connection)

    dialect.do_ping = counted_ping  # type: ignore[method-assign]
