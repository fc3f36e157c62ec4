"""Hot-path reads as precompiled statements, run straight on the pooled driver connection.

Every request with a bearer token makes one read, the viewer lookup; a listing makes one
more, its page (``db/users.py``). Through the ORM that one
row cost about a millisecond of CPU: building the statement and its cache key, the session's
connection bookkeeping, the ORM's row processing. A :class:`PrecompiledRead` compiles its Core
statement once per dialect. On PostgreSQL (outside a transaction pooler) it runs it on a pooled
asyncpg connection, which prepares it once per connection, and applies the same bind and
result processors SQLAlchemy would, so the values are exactly what a Core read returns. A
connection found dead is invalidated with the rest of the pool, as SQLAlchemy does, and the
read tried once more. Elsewhere (SQLite, a transaction pooler) the same statement runs through
the caller's session like any other.

The statement is counted like any other in ``stridegraph_db_round_trips_total``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Enum
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeEngine

from stridegraph.db.engine import is_dead_connection, reads_autocommit
from stridegraph.db.round_trips import counter_for

Processor = Callable[[Any], Any] | None
T = TypeVar("T")
#: Runs a read on the caller's session (its lock, its retry on a dead connection).
SessionReads = Callable[[Callable[[AsyncSession], Awaitable[Any]]], Awaitable[Any]]


class _Compiled:
    """One statement compiled for one dialect: SQL text, parameter order, processors."""

    __slots__ = ("binds", "converting", "order", "processed", "sql")

    def __init__(self, statement: Select[*tuple[Any, ...]], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.binds: tuple[Processor, ...] = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.order
        )
        self.converting = any(self.binds)
        results = (_result_processor(column.type, dialect) for column in statement.selected_columns)
        #: (position, processor) of the columns whose driver value needs converting (enums,
        #: mostly): a listing page converts fifty rows, so the others are not visited
        self.processed: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
            (i, process) for i, process in enumerate(results) if process is not None
        )

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        if not self.converting:  # the common case: no value needs converting
            return [params[name] for name in self.order]
        return [
            value if process is None else process(value)
            for process, value in zip(
                self.binds, (params[name] for name in self.order), strict=True
            )
        ]

    def values(self, record: Sequence[Any]) -> Sequence[Any]:
        if not self.processed:
            return tuple(record)
        values = list(record)
        for i, process in self.processed:
            values[i] = process(values[i])
        return values


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    """SQLAlchemy's result processor for ``type_``; for an enum, the same conversion as one
    dict lookup per value, its table made by that very processor from every stored value (a
    listing page converts four enums in each of fifty rows). An unknown value still raises
    a LookupError, as SQLAlchemy's does."""
    process = type_.dialect_impl(dialect).result_processor(dialect, None)
    if process is None or not isinstance(type_, Enum):
        return process
    table: dict[Any, Any] = {value: process(value) for value in type_.enums}
    table[None] = None
    return table.__getitem__


class PrecompiledRead:
    """A read whose statement is fixed (parameters are ``bindparam``s by name): one row
    (:meth:`first_values`, the viewer lookup) or all of them (:meth:`all_values`, a listing
    page)."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self.keys: tuple[str, ...] = tuple(str(c.key) for c in statement.selected_columns)
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _Compiled(self.statement, dialect)
        return compiled

    async def first(
        self,
        engine: AsyncEngine,
        reads: SessionReads,
        params: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        """The first row as a dict by column key, or None (see :meth:`first_values`)."""
        values = await self.first_values(engine, reads, params)
        return None if values is None else dict(zip(self.keys, values, strict=True))

    async def first_values(
        self,
        engine: AsyncEngine,
        reads: SessionReads,
        params: Mapping[str, Any],
    ) -> Sequence[Any] | None:
        """The first row's values in column order, or None. ``reads`` runs it on the
        caller's session where the direct path does not apply."""
        if not reads_autocommit(engine):
            row = await reads(lambda session: self._through_session(session, params))
            return None if row is None else tuple(row.values())
        compiled = self._for(engine.dialect)
        record = await _direct(engine, compiled, params, one=True)
        return None if record is None else compiled.values(record)

    async def all_values(
        self,
        engine: AsyncEngine | None,
        reads: SessionReads,
        params: Mapping[str, Any],
    ) -> list[Sequence[Any]]:
        """Every row's values in column order. ``engine`` None (or one where the direct
        path does not apply): through ``reads``, e.g. when the caller's session holds a
        transaction whose writes the read must see."""
        if engine is None or not reads_autocommit(engine):
            rows = await reads(lambda session: session.execute(self.statement, dict(params)))
            return [tuple(row) for row in rows]
        compiled = self._for(engine.dialect)
        records = await _direct(engine, compiled, params, one=False)
        return [compiled.values(record) for record in records]

    async def _through_session(
        self, session: AsyncSession, params: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        row = (await session.execute(self.statement, dict(params))).first()
        return None if row is None else dict(zip(self.keys, row, strict=True))


async def _direct(
    engine: AsyncEngine, compiled: _Compiled, params: Mapping[str, Any], *, one: bool
) -> Any:
    """The statement on a pooled connection (:func:`_fetch`), once more if it was dead."""
    arguments = compiled.arguments(params)
    try:
        return await _fetch(engine, compiled.sql, arguments, one=one)
    except Exception as exc:
        if not _dead(exc):
            raise
        return await _fetch(engine, compiled.sql, arguments, one=one)


async def _fetch(engine: AsyncEngine, sql: str, arguments: list[Any], *, one: bool) -> Any:
    """One statement on a pooled connection in autocommit (asyncpg begins nothing unless
    asked), handed back as it was taken. On any failure (cancelled, timed out, or the
    connection died) the connection is discarded rather than judged reusable: the read is
    fixed, so a failure is rare and a reconnect cheap. When it was dead, so are the pool's
    older connections (they share its fate after a restart)."""
    proxied = await engine.raw_connection()
    try:
        counter_for(engine).statement(sql)
        driver: Any = proxied.driver_connection
        fetched = await (driver.fetchrow if one else driver.fetch)(sql, *arguments)
    except BaseException as exc:
        if isinstance(exc, Exception) and _dead(exc):
            engine.sync_engine.pool._invalidate(proxied, exc)  # as SQLAlchemy does
        else:
            proxied.invalidate(exc if isinstance(exc, Exception) else None)
        raise
    finally:
        proxied.close()
    return fetched


def _dead(exc: BaseException) -> bool:
    """The connection, not the statement, failed: a terminated backend, a closed socket."""
    if isinstance(exc, asyncpg.QueryCanceledError):
        return False
    return is_dead_connection(exc) or isinstance(
        exc,
        (
            asyncpg.PostgresConnectionError,
            asyncpg.exceptions.OperatorInterventionError,
            ConnectionError,
        ),
    )


def as_loaded(model: type[T], values: Mapping[str, Any]) -> T:
    """A detached ``model`` instance holding ``values`` as its loaded state, without a
    statement: what the ORM would have built from the same row, minus the session (the
    caller adds it to one, where its changes are tracked and flushed as usual; attributes
    not given stay unloaded, and a deferred one with ``raiseload`` still refuses to load)."""
    instance = model.__mapper__.class_manager.new_instance()  # type: ignore[attr-defined]
    # The instance's dict is its state, as the ORM's own loading fills it;
    # make_transient_to_detached then commits it (nothing pending) and gives it its key.
    instance_state(instance).dict.update(values)
    make_transient_to_detached(instance)
    return instance
