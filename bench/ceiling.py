"""The CEILING the benchmark measures stridegraph against: plain Starlette + asyncpg + orjson,
under the same uvicorn, on the same database, answering the bench's GraphQL POST bodies.

It is strict on purpose: it ignores the query text and dispatches on ``operationName``, and it
runs the fewest statements that can answer each operation *with* the checks stridegraph makes
(the bearer token's session is live and its user active; a non-admin never lists inactive or
unapproved users):

- ``Me``: ONE statement (token digest -> session joined to its user, the 15 fields).
- ``Users`` / ``UsersTotal``: ONE statement (the viewer, the keyset page and, when asked, the
  total, as a CTE and a lateral join).
- ``UserPage``: ONE statement (viewer, offset page and total).
- ``Login``: one read, argon2 verify off the event loop (a one-thread pool, like stridegraph's
  default hash concurrency on 2 cores), then the session INSERT: two statements.

Statements go straight through an asyncpg pool whose release does not run asyncpg's reset
query (we keep no session state), so each statement is one round trip once prepared; the
count is served at ``GET /metrics`` as ``stridegraph_db_round_trips_total``, the name
stridegraph uses, so the bench reads both the same way.

Configuration (environment): ``BENCH_DSN`` (asyncpg DSN), ``BENCH_SECRET_KEY`` (the HMAC key
of the token digests), ``BENCH_ARGON2_TIME_COST`` / ``_MEMORY_COST`` / ``_PARALLELISM``,
``BENCH_POOL_SIZE`` (default 10, stridegraph's steady pool size; connections idle for 10 s
are closed, so an idle ceiling does not hold PostgreSQL connection slots while the other apps
run: the bench keeps every app up, and ``max_connections`` is 100 on a shared server).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ACCESS_TTL = dt.timedelta(minutes=15)
REFRESH_TTL = dt.timedelta(days=30)
MAX_ROW_ID = 2**31 - 1

_VIEWER = """
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.access_token_hash = $1 AND s.revoked_at IS NULL AND s.access_expires_at > now()
      AND u.active AND NOT u.pending_admin_approval
"""

ME_SQL = (
    "SELECT u.id, u.username, u.name, u.email, u.city, u.birthdate, u.preferred_language,"
    " u.gender, u.units, u.height, u.max_heart_rate, u.first_day_of_week, u.currency,"
    " u.access_type, u.created_at" + _VIEWER
)

_LISTED = "l.id, l.username, l.name, l.city, l.access_type, l.created_at, lower(l.username) AS key"
_VISIBLE = "(v.access_type = 'admin' OR (l.active AND NOT l.pending_admin_approval))"


def _listing_sql(*, after: bool, total: bool, offset: bool) -> str:
    """One statement: the viewer (no row: not signed in), its page and, if asked, the total."""
    seek = " AND (lower(l.username), l.id) > ($2, $3)" if after else ""
    limit = "LIMIT $2 OFFSET $3" if offset else "LIMIT 51"
    count = (
        f", (SELECT count(*) FROM users l WHERE {_VISIBLE}) AS total"
        if total
        else ", NULL AS total"
    )
    return (
        f"WITH v AS (SELECT u.access_type {_VIEWER}) "
        f"SELECT v.access_type AS viewer_type, p.*{count} FROM v LEFT JOIN LATERAL ("
        f"SELECT {_LISTED}"
        f" FROM users l WHERE {_VISIBLE}{seek}"
        f" ORDER BY lower(l.username), l.id {limit}) p ON true"
    )


LISTING_SQL = {
    (after, total): _listing_sql(after=after, total=total, offset=False)
    for after in (False, True)
    for total in (False, True)
}
PAGE_SQL = _listing_sql(after=False, total=True, offset=True)

LOGIN_SQL = (
    "SELECT id, password_hash, active, email_verified, pending_admin_approval, mfa_enabled"
    " FROM users WHERE lower(username) = lower($1)"
)
SESSION_SQL = (
    "INSERT INTO sessions (user_id, access_token_hash, access_expires_at, refresh_token_hash,"
    " refresh_expires_at, generation, user_agent, client_address, created_at, last_used_at)"
    " VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $8)"
)


class Ceiling:
    """The pool, the statement counter and the argon2 pool of one process."""

    def __init__(self) -> None:
        self.dsn = os.environ["BENCH_DSN"]
        self.secret = os.environ["BENCH_SECRET_KEY"].encode()
        self.pool_size = int(os.environ.get("BENCH_POOL_SIZE", "10"))
        self.hasher = PasswordHasher(
            time_cost=int(os.environ.get("BENCH_ARGON2_TIME_COST", "3")),
            memory_cost=int(os.environ.get("BENCH_ARGON2_MEMORY_COST", "65536")),
            parallelism=int(os.environ.get("BENCH_ARGON2_PARALLELISM", "4")),
        )
        self.hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")
        self.round_trips = 0
        self.requests = 0
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=1,
            max_size=self.pool_size,
            max_inactive_connection_lifetime=10,
            reset=_no_reset,
        )

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        self.hashing.shutdown(wait=False, cancel_futures=True)

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None
        return self._pool

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        self.round_trips += 1
        return await self.pool.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: object) -> asyncpg.Record | None:
        self.round_trips += 1
        return await self.pool.fetchrow(sql, *args)

    async def execute(self, sql: str, *args: object) -> None:
        self.round_trips += 1
        await self.pool.execute(sql, *args)

    def digest(self, token: str) -> bytes:
        return hmac.new(self.secret, token.encode(), hashlib.sha256).digest()

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return bool(password_hash) and self.hasher.verify(password_hash or "", password)
        except (VerificationError, InvalidHashError):
            return False


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release: no session state is ever set here."""


CEILING = Ceiling()

# ------------------------------------------------------------------------------ rendering


def _global_id(row_id: int) -> str:
    return base64.b64encode(f"User:{row_id}".encode()).decode("ascii")


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _enum(value: str | None) -> str | None:
    return value.upper() if value is not None else None


def _me(row: asyncpg.Record) -> dict[str, Any]:
    birthdate = row["birthdate"]
    return {
        "id": _global_id(row["id"]),
        "username": row["username"],
        "name": row["name"],
        "email": row["email"],
        "city": row["city"],
        "birthdate": birthdate.isoformat() if birthdate is not None else None,
        "preferredLanguage": _enum(row["preferred_language"]),
        "gender": _enum(row["gender"]),
        "units": _enum(row["units"]),
        "height": row["height"],
        "maxHeartRate": row["max_heart_rate"],
        "firstDayOfWeek": _enum(row["first_day_of_week"]),
        "currency": _enum(row["currency"]),
        "accessType": _enum(row["access_type"]),
        "createdAt": _instant(row["created_at"]),
    }


def _listed(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": _global_id(row["id"]),
        "username": row["username"],
        "name": row["name"],
        "city": row["city"],
        "accessType": _enum(row["access_type"]),
        "createdAt": _instant(row["created_at"]),
    }


def encode_cursor(key: str, user_id: int) -> str:
    """stridegraph's cursor format for the username order (``domain.users.encode_cursor``)."""
    raw = json.dumps(["username", key, user_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int] | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, key, user_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error):
        return None
    if kind != "username" or not isinstance(key, str) or not isinstance(user_id, int):
        return None
    if not 0 < user_id <= MAX_ROW_ID:
        return None
    return key, user_id


def _json(payload: dict[str, Any]) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


def _error(field: str, code: str, message: str) -> Response:
    return _json(
        {
            "data": None,
            "errors": [{"message": message, "path": [field], "extensions": {"code": code}}],
        }
    )


def _unauthenticated(field: str) -> Response:
    return _error(field, "UNAUTHENTICATED", "Sign in first.")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


# ------------------------------------------------------------------------------ operations


async def me(request: Request, variables: dict[str, Any]) -> Response:
    token = _bearer(request)
    row = await CEILING.fetchrow(ME_SQL, CEILING.digest(token)) if token else None
    if row is None:
        return _unauthenticated("me")
    return _json({"data": {"me": _me(row)}})


async def _users(request: Request, variables: dict[str, Any], *, total: bool) -> Response:
    token = _bearer(request)
    if not token:
        return _unauthenticated("users")
    after = variables.get("after")
    if after is not None:
        position = decode_cursor(after) if isinstance(after, str) else None
        if position is None:
            return _error("users", "BAD_USER_INPUT", "after is not a cursor of this listing.")
        rows = await CEILING.fetch(LISTING_SQL[True, total], CEILING.digest(token), *position)
    else:
        rows = await CEILING.fetch(LISTING_SQL[False, total], CEILING.digest(token))
    if not rows:
        return _unauthenticated("users")
    listed = [r for r in rows if r["id"] is not None]
    page = listed[:50]
    edges = [{"cursor": encode_cursor(r["key"], r["id"]), "node": _listed(r)} for r in page]
    connection: dict[str, Any] = {
        "edges": edges,
        "pageInfo": {
            "hasNextPage": len(listed) > 50,
            "hasPreviousPage": after is not None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }
    if total:
        connection["totalCount"] = rows[0]["total"]
    return _json({"data": {"users": connection}})


async def users(request: Request, variables: dict[str, Any]) -> Response:
    return await _users(request, variables, total=False)


async def users_total(request: Request, variables: dict[str, Any]) -> Response:
    return await _users(request, variables, total=True)


async def user_page(request: Request, variables: dict[str, Any]) -> Response:
    token = _bearer(request)
    page = variables.get("page", 1)
    if not isinstance(page, int) or page < 1:
        return _error("userPage", "BAD_USER_INPUT", "page starts at 1.")
    if not token:
        return _unauthenticated("userPage")
    per_page = 50
    rows = await CEILING.fetch(PAGE_SQL, CEILING.digest(token), per_page, (page - 1) * per_page)
    if not rows:
        return _unauthenticated("userPage")
    total = rows[0]["total"]
    return _json(
        {
            "data": {
                "userPage": {
                    "totalCount": total,
                    "page": page,
                    "perPage": per_page,
                    "pageCount": -(-total // per_page),
                    "items": [_listed(r) for r in rows if r["id"] is not None],
                }
            }
        }
    )


async def login(request: Request, variables: dict[str, Any]) -> Response:
    username, password = variables.get("u"), variables.get("p")
    if not isinstance(username, str) or not isinstance(password, str):
        return _error("login", "BAD_USER_INPUT", "username and password are required.")
    row = await CEILING.fetchrow(LOGIN_SQL, username.strip())
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(
        CEILING.hashing, CEILING.verify, row["password_hash"] if row else None, password
    )
    if row is None or not ok:
        return _login_error("INVALID_CREDENTIALS")
    if row["pending_admin_approval"]:
        return _login_error("PENDING_APPROVAL")
    if not row["active"]:
        return _login_error("ACCOUNT_INACTIVE")
    now = dt.datetime.now(dt.UTC)
    access = "sga_" + secrets.token_urlsafe(32)
    refresh = "sgr_" + secrets.token_urlsafe(32)
    client = request.client.host if request.client else None
    await CEILING.execute(
        SESSION_SQL,
        row["id"],
        CEILING.digest(access),
        now + ACCESS_TTL,
        CEILING.digest(refresh),
        now + REFRESH_TTL,
        (request.headers.get("user-agent") or "")[:512] or None,
        client,
        now,
    )
    return _json({"data": {"login": {"accessToken": access, "errors": []}}})


def _login_error(code: str) -> Response:
    return _json({"data": {"login": {"accessToken": None, "errors": [{"code": code}]}}})


Handler = Callable[[Request, dict[str, Any]], Awaitable[Response]]
OPERATIONS: dict[str, Handler] = {
    "Me": me,
    "Users": users,
    "UsersTotal": users_total,
    "UserPage": user_page,
    "Login": login,
}


async def graphql(request: Request) -> Response:
    CEILING.requests += 1
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return Response(b'{"errors":[{"message":"invalid JSON"}]}', status_code=400)
    if not isinstance(body, dict):
        return Response(b'{"errors":[{"message":"expected an object"}]}', status_code=400)
    handler = OPERATIONS.get(body.get("operationName") or "")
    if handler is None:
        return Response(b'{"errors":[{"message":"unknown operation"}]}', status_code=400)
    variables = body.get("variables") or {}
    return await handler(request, variables if isinstance(variables, dict) else {})


async def metrics(request: Request) -> Response:
    text = (
        "# TYPE stridegraph_db_round_trips_total counter\n"
        f'stridegraph_db_round_trips_total{{app="ceiling"}} {CEILING.round_trips}\n'
        "# TYPE stridegraph_http_requests_total counter\n"
        f'stridegraph_http_requests_total{{route="/graphql"}} {CEILING.requests}\n'
    )
    return Response(text, media_type="text/plain; version=0.0.4")


async def healthz(request: Request) -> Response:
    return Response(b"ok")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await CEILING.start()
    try:
        yield
    finally:
        await CEILING.stop()


app = Starlette(
    routes=[
        Route("/graphql", graphql, methods=["POST"]),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
    ],
    lifespan=lifespan,
)
