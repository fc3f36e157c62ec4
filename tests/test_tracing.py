"""Optional OpenTelemetry tracing (issue 14 point 6): off by default; when on, a request is a
server span (continuing the caller's ``traceparent``) with the SQL statements as spans in the
same trace, shown with the SDK's in-memory exporter; and a real server with the console
exporter writes its spans as JSON lines."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from stridegraph import tracing
from stridegraph.app import create_app
from stridegraph.config import ConfigError, Settings, load_settings
from tests.conftest import make_settings, server_env, start_server, stop_server

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_tracing_is_off_unless_configured(tmp_path: Path) -> None:
    base = {"STRIDEGRAPH_DATA_DIR": str(tmp_path)}
    off = load_settings(base)
    assert off.otel_exporter == "none" and tracing.provider_for(off) is None
    assert load_settings({**base, "OTEL_TRACES_EXPORTER": "console"}).otel_exporter == "console"
    assert load_settings({**base, "STRIDEGRAPH_OTEL_EXPORTER": "otlp"}).otel_exporter == "otlp"
    with pytest.raises(ConfigError):
        load_settings({**base, "STRIDEGRAPH_OTEL_EXPORTER": "jaeger"})


async def test_a_request_span_and_its_database_spans(settings: Settings, backend: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(settings, tracer_provider=provider)
    try:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/graphql",
                json={"query": "{ serverSettings { signupEnabled } }"},
                headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
            )
        assert response.status_code == 200
    finally:
        tracing.shutdown(provider)
        await app.state.engine.dispose()
    spans = exporter.get_finished_spans()
    [server] = [s for s in spans if s.kind == SpanKind.SERVER]
    assert server.attributes is not None
    assert format(server.context.trace_id, "032x") == TRACE_ID  # continues the caller's trace
    database = [
        s
        for s in spans
        if s.attributes and s.attributes.get("db.system", s.attributes.get("db.system.name"))
    ]
    assert database, [s.name for s in spans]
    assert {format(s.context.trace_id, "032x") for s in database} == {TRACE_ID}
    assert any(
        "SELECT" in s.name.upper() or "server_settings" in str(s.attributes) for s in database
    )


def test_a_real_server_exports_spans_as_json_lines(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "data")
    env = server_env(settings, STRIDEGRAPH_OTEL_EXPORTER="console")
    server = start_server(env, tmp_path)
    try:
        httpx.post(
            f"{server.url}/graphql",
            json={"query": "{ serverSettings { signupEnabled } }"},
            headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        )
        time.sleep(0.2)
    finally:
        stop_server(server)  # the batch processor exports what it holds on shutdown
    entries = [json.loads(line) for line in server.log().splitlines()]
    spans = [e for e in entries if "context" in e and "kind" in e]
    assert any(
        e["kind"] == "SpanKind.SERVER" and e["context"]["trace_id"] == f"0x{TRACE_ID}"
        for e in spans
    ), spans
