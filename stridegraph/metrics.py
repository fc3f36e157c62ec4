"""Prometheus metrics for requests and the things operators watch (logins, mail, the
database: round trips per kind and the connection pool)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

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
        trips = CounterMetricFamily(
            "stridegraph_db_round_trips",
            "Round trips to the database by kind (statement, begin, commit, rollback, ping).",
            labels=["kind"],
        )
        counts = self.round_trips.snapshot()
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
