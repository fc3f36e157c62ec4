"""Prometheus metrics for requests and the things operators watch (logins, mail)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
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
