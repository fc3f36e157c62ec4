"""Prometheus metrics for requests and the things operators watch (logins, mail, the
database: round trips per kind and the connection pool)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

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
        if engine is not None:
            self.registry.register(DatabaseCollector(engine))


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
