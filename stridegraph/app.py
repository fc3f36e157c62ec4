"""App assembly: the Starlette application with Strawberry at /graphql and the operational
endpoints (/healthz, /readyz, /metrics), request logging, metrics and body limits."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from cross_web import HTTPException
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry import UNSET
from strawberry.asgi import GraphQL

from stridegraph import tracing
from stridegraph.assets import STATIC, VersionedStaticFiles
from stridegraph.config import Settings
from stridegraph.db.engine import engine_for, is_dead_connection, make_session_factory
from stridegraph.db.round_trips import spawn_background
from stridegraph.domain.crypto import SecretCipher
from stridegraph.domain.errors import Unauthenticated
from stridegraph.domain.export import wait_for_builds
from stridegraph.domain.mail import Mailer
from stridegraph.domain.passwords import PasswordService
from stridegraph.domain.retention import PurgeSchedule
from stridegraph.domain.unit import Services, Unit
from stridegraph.domain.viewer import resolve_bearer
from stridegraph.graph.bearer import bearer_token
from stridegraph.graph.context import Context
from stridegraph.graph.cookies import forces_preflight
from stridegraph.graph.edge import BadRequest, check_request, decode_json_object, encode_json
from stridegraph.graph.extensions import database_down
from stridegraph.graph.history.http import export_endpoint
from stridegraph.graph.http_protocol import (
    error_response,
    graphql_response,
    operation_refusal,
    request_media_type,
)
from stridegraph.graph.persisted import PersistedQueries, asks_for_persisted
from stridegraph.graph.photos.http import photo_endpoint
from stridegraph.graph.pipeline import documents_of
from stridegraph.graph.precompiled_view import PrecompiledQueries
from stridegraph.graph.schema import build_schema
from stridegraph.graphiql import graphiql_response
from stridegraph.logs import bind_request, request_id_from, trace_id_from, unbind_request
from stridegraph.metrics import GraphQLErrorCounter, Metrics, OutboxGauges, PurgeMetrics

log = logging.getLogger("stridegraph.http")
#: Request headers a browser client may send cross-origin: credentials and body type, the
#: multipart CSRF-prevention headers, Apollo Client's name/version, and the correlation
#: headers a gateway or SPA forwards (request id, W3C trace context).
CORS_REQUEST_HEADERS = (
    "authorization",
    "content-type",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "apollographql-client-name",
    "apollographql-client-version",
    "x-request-id",
    "traceparent",
    "tracestate",
)
#: The status recorded (never sent) for a request whose client went away first.
CLIENT_CLOSED_REQUEST = 499


def client_address(scope: Scope, trusted: tuple[Any, ...]) -> str:
    """The peer address, or for a trusted proxy the right-most untrusted X-Forwarded-For hop."""
    peer = (scope.get("client") or ("unknown", 0))[0]

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in trusted)

    if not trusted or not is_trusted(peer):
        return str(peer)
    forwarded = ""
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            forwarded = (
                f"{forwarded},{value.decode('latin-1')}" if forwarded else value.decode("latin-1")
            )
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else str(peer)


#: Where the request's scope keeps the context :meth:`StrideGraphQL.get_context` made.
CONTEXT_STATE_KEY = "graphql_context"


class StrideGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view, with one unit of work (database session) per HTTP request and
    the viewer resolved from the bearer token before execution, both in ``get_context``."""

    def __init__(self, services: Services, settings: Settings, **kwargs: Any) -> None:
        super().__init__(build_schema(settings), **kwargs)
        self.services = services
        self.persisted = PersistedQueries(
            settings.persisted_queries, settings.persisted_queries_size
        )
        self.precompiled = (
            PrecompiledQueries(
                self.schema._schema,  # type: ignore[attr-defined]  # graphql-core's
                documents_of(self.schema),
                self.persisted,
            )
            if settings.precompiled_queries
            else None
        )

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """Strawberry's, for HTTP, closing the request's unit of work (opened by
        :meth:`get_context`) once the answer is ready, and answering refusals (a multipart
        request without a preflight-forcing header, a malformed body) as GraphQL over HTTP
        says (``graph.http_protocol``)."""
        if not isinstance(request, Request):  # a websocket: not served (no subscriptions)
            return await super().run(request, context, root_value)
        try:
            if _unprotected_multipart(request):
                raise BadRequest(
                    "Multipart requests need an Apollo-Require-Preflight or "
                    "X-Apollo-Operation-Name header (CSRF prevention)."
                )
            if self.precompiled is not None:
                sub_response = await self.get_sub_response(request)
                made = await self.get_context(request, sub_response)
                answer = await self.precompiled.answer(request, made, sub_response)
                if answer is not None:
                    return answer
            return await super().run(request, context, root_value)
        except HTTPException as exc:
            return error_response(exc, request.headers)
        finally:
            made = request.scope.get("state", {}).pop(CONTEXT_STATE_KEY, None)
            if made is not None:
                await made.close()

    async def get_context(self, request: Any, response: Any) -> Context:
        """The request's context, owning its unit of work (a database session, closed by
        :meth:`run` once the answer is ready), with the viewer resolved from the bearer
        token before anything executes."""
        if not isinstance(request, Request):
            raise RuntimeError("only HTTP requests are served")
        state = request.scope.setdefault("state", {})
        made = state.get(CONTEXT_STATE_KEY)
        if made is not None:  # the precompiled path made it already (``run``)
            return made
        context = Context(
            request=request,
            response=response,
            unit=Unit(services=self.services),
            request_id=state.get("request_id") or uuid.uuid4().hex,
            client_address=state.get("client_address") or "unknown",
        )
        state[CONTEXT_STATE_KEY] = context
        await self._authenticate(request, context)
        return context

    async def _authenticate(self, request: Request, context: Context) -> None:
        try:
            token = bearer_token(request.headers.get("authorization"))
            if token is None:
                return
            context.viewer = await resolve_bearer(context.unit, token=token)
            context.bearer = token
            await context.unit.release()
        except Unauthenticated as exc:
            context.auth_failure = "UNAUTHENTICATED"
            context.auth_reason = exc.reason
        except Exception as exc:
            if not database_down(exc):
                raise
            context.auth_failure = "SERVICE_UNAVAILABLE"

    def decode_json(self, data: str | bytes) -> object:
        return decode_json_object(data)

    def encode_json(self, data: object) -> bytes:
        """orjson: several times cheaper than ``json.dumps`` on a listing's response."""
        return encode_json(data)

    async def parse_http_body(self, request: Any) -> Any:
        """Strawberry's parsing, then the edge checks of ``graph.edge``."""
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            check_request(item.query, item.operation_name, item.variables, item.extensions)
        return data

    async def execute_single(self, *args: Any, **kwargs: Any) -> Any:
        """Strawberry's, with automatic persisted queries (``graph.persisted``) resolved
        first and its operation refusals as the spec wants them (``graph.http_protocol``)."""
        data = kwargs["request_data"]
        if asks_for_persisted(data.extensions):  # the request log says which kind it was
            state = kwargs["request"].scope.setdefault("state", {})
            state["persisted_query"] = "hash_only" if data.query is None else "with_query"
            data.query, state["persisted_query"] = self.persisted.resolve(
                data.query, data.extensions
            )
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            return operation_refusal(exc)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """The negotiated media type and the spec's status (``graph.http_protocol``)."""
        response = graphql_response(response_data, sub_response.media_type or "application/json")
        response.headers.raw.extend(sub_response.headers.raw)
        response.background = sub_response.background
        return response

    async def parse_multipart(self, request: Any) -> dict[str, str]:
        try:
            return await super().parse_multipart(request)
        except HTTPException:
            raise
        except (LookupError, TypeError, ValueError, AttributeError, RecursionError):
            raise BadRequest(
                "The multipart `map` must be an object from each file part's name to a list "
                "of `variables.…` paths that exist in `operations`."
            ) from None

    async def get_sub_response(self, request: Any) -> Response:
        """One per request, shared by the context (``graph/cookies.py`` sets cookies on it)
        and Strawberry, which copies its headers into the answer), carrying the negotiated
        media type."""
        state = request.scope.setdefault("state", {})
        if "sub_response" not in state:
            sub_response = await super().get_sub_response(request)
            sub_response.media_type = request_media_type(request.headers)  # graph.http_protocol
            state["sub_response"] = sub_response
        return state["sub_response"]

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_response()


def _unprotected_multipart(request: Request) -> bool:
    """A multipart POST is a "simple" request a browser sends cross-site without a CORS
    preflight; insisting on a non-standard header forces one (Apollo's CSRF prevention)."""
    content_type = request.headers.get("content-type", "").lower()
    if request.method != "POST" or not content_type.startswith("multipart/"):
        return False
    return not forces_preflight(request.headers)


class RequestLogMiddleware:
    """Request id, client address, one JSON log line and metrics per request; rejects bodies
    larger than the configured limit before they are read, and bodies whose client kept
    us waiting more than ``BODY_TIMEOUT`` in all (408, connection closed): a client that
    sends headers and then stalls or trickles would otherwise hold its connection and a
    task for ever."""

    def __init__(self, app: ASGIApp, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics

    def _body_limit(self, scope: Scope) -> int:
        for name, value in scope.get("headers", []):
            if name == b"content-type" and value.startswith(b"multipart/form-data"):
                return self.settings.max_upload_bytes + 64 * 1024
        return self.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id, trace_id = _request_identity(scope)
        bound = bind_request(request_id, trace_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["trace_id"] = trace_id
        state["client_address"] = client_address(scope, self.settings.trusted_proxies)
        status = 500
        limit = self._body_limit(scope)
        received = 0
        body_wait_left = float(self.settings.body_timeout_seconds)
        body_done = False

        async def limited_receive() -> Message:
            # The deadline counts only time spent waiting for the client, so an app that
            # reads the body late (after a slow authentication) does not blame the client.
            nonlocal received, body_done, body_wait_left
            if body_done:  # e.g. waiting for a disconnect while streaming: no deadline
                return await receive()
            waiting_since = time.monotonic()
            try:
                # asyncio.timeout, not wait_for: wait_for wraps every receive in a task
                async with asyncio.timeout(max(body_wait_left, 0.001)):
                    message = await receive()
            except TimeoutError:
                raise _BodyTimeout from None
            body_wait_left -= time.monotonic() - waiting_since
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
                body_done = not message.get("more_body", False)
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        declared = _content_length(scope)
        try:
            if declared is not None and declared > limit:
                raise _BodyTooLarge
            await self.app(scope, limited_receive, send_wrapper)
        except _BodyTimeout:
            status = 408
            self.metrics.graphql_errors.labels("REQUEST_TIMEOUT").inc()
            await _body_timeout_response(scope, receive, send_wrapper)
        except _BodyTooLarge:
            status = 413
            self.metrics.graphql_errors.labels("PAYLOAD_TOO_LARGE").inc()
            response = JSONResponse(
                {
                    "errors": [
                        {
                            "message": "Request body too large.",
                            "extensions": {"code": "PAYLOAD_TOO_LARGE"},
                        }
                    ]
                },
                status_code=413,
            )
            await response(scope, receive, send_wrapper)
        except ClientDisconnect:
            # The client hung up before we could answer: nobody to answer, nothing wrong
            # with the server. 499 (nginx's "client closed request") in the log and metrics.
            status = CLIENT_CLOSED_REQUEST
            log.info(
                "client_disconnected",
                extra={"request_id": request_id, "path": scope.get("path")},
            )
        except Exception:
            status = 500
            log.exception("unhandled error", extra={"request_id": request_id})
            self.metrics.graphql_errors.labels("INTERNAL_SERVER_ERROR").inc()
            response = JSONResponse(
                {
                    "errors": [
                        {
                            "message": "Internal server error",
                            "extensions": {
                                "code": "INTERNAL_SERVER_ERROR",
                                "requestId": request_id,
                            },
                        }
                    ]
                },
                status_code=500,
            )
            with contextlib.suppress(Exception):
                await response(scope, receive, send_wrapper)
        finally:
            duration = time.perf_counter() - started
            route = _route_name(scope.get("path", ""))
            self.metrics.observe_request(scope.get("method", ""), route, status, duration)
            if route == "/graphql":
                self.metrics.observe_operation(state, duration)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "operation": state.get("operation_name"),
                        "persisted_query": state.get("persisted_query"),
                        "precompiled": state.get("precompiled", False),
                        "status": status,
                        "duration_ms": round(duration * 1000, 2),
                        "client": state["client_address"],
                        "trace_id": trace_id,
                    },
                )
            unbind_request(bound)


async def _exports_built(grace: float) -> None:
    """Wait up to ``grace`` seconds for the data exports this process is building."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wait_for_builds(), grace)


def _request_identity(scope: Scope) -> tuple[str, str | None]:
    """The request id (a valid incoming ``X-Request-Id``, else a new one) and the W3C
    trace id of its ``traceparent``, so one request is one id from the gateway on."""
    incoming = trace = None
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            incoming = value.decode("latin-1")
        elif name == b"traceparent":
            trace = value.decode("latin-1")
    return request_id_from(incoming) or uuid.uuid4().hex, trace_id_from(trace)


class _BodyTooLarge(Exception):
    pass


class _BodyTimeout(Exception):
    pass


async def _body_timeout_response(scope: Scope, receive: Receive, send: Send) -> None:
    """408 with ``Connection: close``: the rest of the body may still arrive, so the
    connection cannot carry another request."""
    response = JSONResponse(
        {
            "errors": [
                {
                    "message": "The request body was not received in time.",
                    "extensions": {"code": "REQUEST_TIMEOUT"},
                }
            ]
        },
        status_code=408,
        headers={"connection": "close"},
    )
    with contextlib.suppress(Exception):
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _route_name(path: str) -> str:
    if path.startswith("/photos/"):
        return "/photos/{userId}"
    if path.startswith("/exports/"):
        return "/exports/{id}"
    if path in ("/graphql", "/healthz", "/readyz", "/metrics"):
        return path
    return "other"


def metrics_refusal(request: Request, token: str | None) -> Response | None:
    """Who may scrape ``/metrics``. With ``METRICS_TOKEN`` set: whoever sends it as a bearer
    token (compared in constant time), 401 otherwise. Without: loopback clients only (the
    client address as resolved for every request, so a request relayed by a trusted proxy
    is judged by its real client), 403 otherwise."""
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), token.encode()
        ):
            return None
        return JSONResponse(
            {"error": "A bearer token is required (STRIDEGRAPH_METRICS_TOKEN)."},
            status_code=401,
            headers={"www-authenticate": 'Bearer realm="metrics"'},
        )
    if _is_local_scrape(request):
        return None
    return JSONResponse(
        {"error": "Metrics are served to loopback clients only; set STRIDEGRAPH_METRICS_TOKEN."},
        status_code=403,
    )


_FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def _is_local_scrape(request: Request) -> bool:
    """A loopback client, not relaying anyone: a proxy on the same host that is not listed
    in TRUSTED_PROXIES would make every request look local, but it says whom it relays."""
    address = request.scope.get("state", {}).get("client_address") or ""
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
    return loopback and not any(request.headers.get(name) for name in _FORWARDING_HEADERS)


def mailer_for(settings: Settings) -> Mailer:
    """The mailer with the delivery settings (``MAIL_*``); tests build theirs directly."""
    return Mailer(
        settings.smtp_url,
        settings.mail_from,
        max_attempts=settings.mail_max_attempts,
        base_delay=settings.mail_backoff_base_seconds,
        max_delay=settings.mail_backoff_max_seconds,
        workers=settings.mail_concurrency,
        poll_interval=settings.mail_poll_interval_seconds,
        lease=settings.mail_lease_seconds,
    )


def build_services(settings: Settings, engine: AsyncEngine) -> Services:
    return Services(
        settings=settings,
        sessions=make_session_factory(engine),
        passwords=PasswordService(settings),
        mailer=mailer_for(settings),
        cipher=SecretCipher(settings.encryption_keys),
    )


def create_app(
    settings: Settings, *, services: Services | None = None, tracer_provider: Any | None = None
) -> Starlette:
    """The ASGI app. Pass ``services`` to share them with a test; otherwise the app builds and
    owns its engine. ``tracer_provider``: a test's; otherwise the settings' (``tracing.py``)."""
    engine = None
    if services is None:
        engine = engine_for(settings)
        services = build_services(settings, engine)
    bound = services.sessions.kw.get("bind")
    db_engine = engine or (bound if isinstance(bound, AsyncEngine) else None)
    metrics = Metrics(db_engine)
    provider = tracer_provider or tracing.provider_for(settings)
    outbox_gauges = OutboxGauges(metrics.registry)
    purge_schedule = PurgeSchedule(services, on_purged=PurgeMetrics(metrics.registry).record)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services.mailer.start(services.sessions)  # the outbox loop, also mail from before
        services.usage.start(services.sessions)
        purge_schedule.start()
        try:
            yield
        finally:
            # uvicorn gets here once the requests are done or, past SHUTDOWN_GRACE,
            # cancelled. The four stop side by side, so the slowest bounds the wait: the
            # purge's current batch (one short statement), the last-used times still
            # pending (one flush), the mail being sent (at most the grace again, capped by
            # the SMTP timeout; what it cannot finish it hands back to the outbox), the data
            # exports being built (at most the grace; one still unfinished then is left
            # pending and, never finished, ends stale, so its owner may ask again).
            grace = float(settings.shutdown_grace_seconds)
            mail_grace = min(grace, services.mailer.timeout + 1)
            stops = await asyncio.gather(
                purge_schedule.stop(),
                services.usage.stop(),
                services.mailer.stop(grace=mail_grace),
                _exports_built(grace),
                return_exceptions=True,
            )
            for failure in stops:
                if isinstance(failure, BaseException):
                    log.error("shutdown step failed", exc_info=failure)
            tracing.shutdown(provider)
            if engine is not None:
                services.passwords.close()
                await engine.dispose()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        for attempt in (1, 2):  # a dead pooled connection is not a dead database
            try:
                async with services.sessions() as session:
                    await asyncio.wait_for(session.execute(text("SELECT 1")), timeout=2)
            except Exception as exc:
                if attempt == 1 and is_dead_connection(exc):
                    continue
                return JSONResponse({"status": "unavailable"}, status_code=503)
            break
        return JSONResponse({"status": "ok"})

    async def metrics_endpoint(request: Request) -> Response:
        refusal = metrics_refusal(request, settings.metrics_token)
        if refusal is not None:
            return refusal
        try:
            refresh = spawn_background(outbox_gauges.refresh(services.sessions), name="gauges")
            await asyncio.wait_for(refresh, timeout=2)
        except Exception as exc:  # the database is down: serve the rest, say so in the log
            log.warning("outbox metrics unavailable", extra={"error": type(exc).__name__})
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    view = StrideGraphQL(
        services,
        settings,
        graphql_ide="graphiql" if settings.graphiql else None,
        multipart_uploads_enabled=True,
    )
    routes: list[Any] = [
        # every method: the view answers 405 as GraphQL JSON
        Route("/graphql", GraphQLErrorCounter(view, metrics)),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/photos/{user_id}", photo_endpoint(services), methods=["GET", "HEAD"]),
        Route("/exports/{export_id}", export_endpoint(services), methods=["GET", "HEAD"]),
        Mount("/static", VersionedStaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        *tracing.middleware(provider, db_engine),
        Middleware(RequestLogMiddleware, settings=settings, metrics=metrics),
        Middleware(GZipMiddleware, minimum_size=1024, compresslevel=6),
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                # the session cookie (graph/cookies.py), never for a wildcard origin
                allow_credentials="*" not in settings.cors_origins,
                allow_headers=list(CORS_REQUEST_HEADERS),
                expose_headers=["x-request-id"],
                max_age=600,
            )
        )
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.services = services
    app.state.engine = engine
    app.state.metrics = metrics
    return app


def app_from_env() -> Starlette:
    """uvicorn's factory (one call per worker): configuration from the environment."""
    from stridegraph.config import load_settings
    from stridegraph.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
