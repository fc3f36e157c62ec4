"""Optional OpenTelemetry tracing with the official instrumentation: a server span per HTTP
request (``opentelemetry-instrumentation-asgi``, continuing an incoming ``traceparent``) and
a span per SQL statement (``opentelemetry-instrumentation-sqlalchemy``).

Off unless ``STRIDEGRAPH_OTEL_EXPORTER`` (or the standard ``OTEL_TRACES_EXPORTER``) says
``console`` or ``otlp``; the OTLP exporter reads the standard ``OTEL_EXPORTER_OTLP_*``
variables, the resource ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``. The packages
are the ``otel`` extra: they are imported only when tracing is on, so a server without them
runs as before.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware import Middleware

from stridegraph.config import ConfigError, Settings


def require(settings: Settings) -> None:
    """Refuse to start (one line, exit 2) when tracing is asked for but not installed."""
    if settings.otel_exporter != "none" and importlib.util.find_spec("opentelemetry") is None:
        raise ConfigError(
            "OTEL_EXPORTER", "tracing needs the otel extra: pip install 'stridegraph[otel]'"
        )


def provider_for(settings: Settings) -> Any | None:
    """A tracer provider exporting as configured, or None when tracing is off."""
    if settings.otel_exporter == "none":
        return None
    try:  # the optional extra: imported here, only when asked for
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise ConfigError(
            "OTEL_EXPORTER", "tracing needs the otel extra: pip install 'stridegraph[otel]'"
        ) from None
    name = os.environ.get("OTEL_SERVICE_NAME") or "stridegraph"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if settings.otel_exporter == "console":
        # one JSON object per line on stdout, like the logs on stderr
        exporter: Any = ConsoleSpanExporter(
            out=sys.stdout, formatter=lambda span: json.dumps(json.loads(span.to_json())) + "\n"
        )
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def middleware(provider: Any | None, engine: AsyncEngine | None) -> list[Middleware]:
    """The ASGI server-span middleware (outermost) and the engine's statement spans. The
    SQLAlchemy instrumentor is one per process (its design), which is one app per worker."""
    if provider is None:
        return []
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    if engine is not None:
        # skip_dep_check: the instrumentation declares SQLAlchemy < 2.1 and refuses our 2.1;
        # the engine events it hooks are unchanged in 2.1 (tests/test_tracing.py shows spans)
        SQLAlchemyInstrumentor().instrument(
            engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True
        )
    return [Middleware(OpenTelemetryMiddleware, tracer_provider=provider)]


def shutdown(provider: Any | None) -> None:
    """Export what is still buffered and detach from the engine."""
    if provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    SQLAlchemyInstrumentor().uninstrument()
    provider.shutdown()
