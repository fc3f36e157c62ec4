"""Prometheus metrics for requests and the things operators watch (logins, mail)."""

from __future__ import annotations

import datetime as dt

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stridegraph.db import outbox as outbox_rows


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
