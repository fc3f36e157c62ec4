"""Prometheus metrics for requests and the things operators watch (GraphQL operations and
errors, mail, the database: round trips per kind and the connection pool, the process)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stridegraph.db import outbox as outbox_rows
from stridegraph.db.round_trips import KINDS, counter_for


class Metrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    def __init__(self, engine: AsyncEngine | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "stridegraph_http_requests_total",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stridegraph_http_request_duration_seconds",
            "HTTP request duration.",
            ["route"],
            registry=self.registry,
        )
        self.graphql_errors = Counter(
            "stridegraph_graphql_errors_total",
            "GraphQL errors by code.",
            ["code"],
            registry=self.registry,
        )
        self.operations = Histogram(
            "stridegraph_graphql_operation_duration_seconds",
            "Duration of executed GraphQL operations by operation name and type (names beyond "
            f"the first {MAX_OPERATION_NAMES} distinct ones are 'other', unnamed ones "
            "'anonymous').",
            ["operation", "type"],
            registry=self.registry,
        )
        self.operation_names = OperationNames()
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._operation_children: dict[tuple[str, str], Any] = {}
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)  # the process as a whole: one set of figures
        if engine is not None:
            self.registry.register(DatabaseCollector(engine))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP request. The labelled series are looked up once per label set and kept
        (prometheus-client's ``labels`` takes a lock and rebuilds the key on every call);
        the sets are few: known methods, fixed routes, status codes."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(route),
            )
        count, latency = children
        count.inc()
        latency.observe(seconds)

    def observe_operation(self, state: Mapping[str, Any], seconds: float) -> None:
        """One executed operation (``graph/pipeline.py`` notes its name and type in the
        request's state); requests refused before execution are not operations."""
        kind = state.get("operation_type")
        if kind is None:
            return
        name = self.operation_names.label(state.get("operation_name"))
        key = (name, kind)
        child = self._operation_children.get(key)
        if child is None:  # bounded: names by OperationNames, types by GraphQL
            child = self._operation_children[key] = self.operations.labels(name, kind)
        child.observe(seconds)

    def count_errors(self, body: bytes) -> None:
        """Count each error of a GraphQL response body by its ``extensions.code``."""
        if b'"errors"' not in body:  # the common case costs one substring search
            return
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        errors = parsed.get("errors") if isinstance(parsed, dict) else None
        for error in errors if isinstance(errors, list) else []:
            extensions = error.get("extensions") if isinstance(error, dict) else None
            code = extensions.get("code") if isinstance(extensions, dict) else None
            self.graphql_errors.labels(error_code_label(code)).inc()


#: Distinct operation names a process labels its histogram with; later ones are "other".
MAX_OPERATION_NAMES = 100
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


class OperationNames:
    """Bounded label values: operation names are the client's choice, and every distinct
    label value is a time series kept for ever. The first ``limit`` valid GraphQL names seen
    keep their own series; anything else shares one."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def label(self, name: object) -> str:
        if name is None:
            return "anonymous"
        if not isinstance(name, str) or not _GRAPHQL_NAME.fullmatch(name):
            return "other"
        if name in self._seen:
            return name
        if len(self._seen) >= self.limit:
            return "other"
        self._seen.add(name)
        return name


def error_code_label(code: object) -> str:
    """The code as a label: our codes are upper-case words; an error without one is
    ``NONE``, anything odd ``OTHER``."""
    if code is None:
        return "NONE"
    if isinstance(code, str) and _ERROR_CODE.fullmatch(code):
        return code
    return "OTHER"


class GraphQLErrorCounter:
    """ASGI wrapper of the GraphQL view: counts the errors of every JSON response it sends,
    whichever part produced them (execution, validation, the request checks), before any
    compression further out."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_json = False
        chunks: list[bytes] = []

        async def counting_send(message: Message) -> None:
            nonlocal is_json
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                is_json = b"json" in content_type
            elif message["type"] == "http.response.body" and is_json:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self.metrics.count_errors(b"".join(chunks))
                    chunks.clear()
            await send(message)

        await self.app(scope, receive, counting_send)


class DatabaseCollector(Collector):
    """Read at scrape time from the engine (no database access): what was sent to the
    database (``db/round_trips.py``) and how the pool is used right now."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.round_trips = counter_for(engine)

    def collect(self) -> Iterator[Metric]:
        for family, help_text, origin in (
            (
                "stridegraph_db_round_trips",
                "Round trips to the database made by requests, by kind (statement, begin, "
                "commit, rollback, ping).",
                "request",
            ),
            (
                "stridegraph_db_background_round_trips",
                "Round trips made by the server's own background work (mail outbox, "
                "last-used writes, purge, metrics), by kind.",
                "background",
            ),
        ):
            trips = CounterMetricFamily(family, help_text, labels=["kind"])
            counts = self.round_trips.snapshot(origin)
            for kind in KINDS:
                trips.add_metric([kind], counts[kind])
            yield trips
        pool = self.engine.sync_engine.pool
        for name, help_text, read in (
            ("checked_out", "Pooled connections in use by a request.", "checkedout"),
            ("overflow", "Connections open beyond the pool size.", "overflow"),
            ("size", "Connections the pool keeps open.", "size"),
        ):
            reader = getattr(pool, read, None)
            value = float(reader()) if callable(reader) else 0.0
            if name == "overflow":
                value = max(0.0, value)  # QueuePool counts from -size while under it
            yield GaugeMetricFamily(f"stridegraph_db_pool_{name}", help_text, value=value)


class OutboxGauges:
    """The mail outbox as operators watch it: rows per state and how long the oldest queued
    mail has waited. Read at scrape time (one grouped statement over the state index), so
    every replica reports the same shared numbers and nothing is counted per process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rows = Gauge(
            "stridegraph_mail_outbox",
            "Outbox rows by state (queued, sending, sent, failed).",
            ["state"],
            registry=registry,
        )
        self.oldest_queued = Gauge(
            "stridegraph_mail_oldest_queued_seconds",
            "Age of the oldest queued mail (0 when none waits).",
            registry=registry,
        )

    async def refresh(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        async with sessions() as session:
            found = await outbox_rows.stats(session)
        for state, count in found.counts.items():
            self.rows.labels(state).set(count)
        age = 0.0
        if found.oldest_queued is not None:
            age = max(0.0, (dt.datetime.now(dt.UTC) - found.oldest_queued).total_seconds())
        self.oldest_queued.set(age)


class PurgeMetrics:
    """Rows the retention purge deleted, per table (kept apart from :class:`Metrics`: it is
    fed only by the purge schedule, ``domain/retention.PurgeSchedule``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.purged = Counter(
            "stridegraph_purged_rows",
            "Rows deleted by the retention purge, by table.",
            ["table"],
            registry=registry,
        )

    def record(self, counts: Mapping[str, int]) -> None:
        for table, count in counts.items():
            self.purged.labels(table=table).inc(count)
