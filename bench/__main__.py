"""``python -m bench``: stridegraph against a hand-written ceiling, end to end, in one command.

It creates a throwaway PostgreSQL database (127.0.0.1:5432, user postgres), migrates it with
stridegraph's own migrations, seeds N users with SQL (COPY), starts ``stridegraph serve`` with
each worker count and the ceiling app (``bench/ceiling.py``) on it, checks that both answer
every work item alike, drives them with wrk, interleaved (each work item runs on every app in
turn, round after round; the median of the rounds is reported), prints a table and writes
RESULTS.md. The database is dropped at the end, also on Ctrl-C or an error.

Why wrk and not a Python client: on a 2-core machine a Python load generator costs about as
much CPU as the server it measures; wrk (C, LuaJIT) is cheap enough to leave the server the
CPU it would have in production.

SQL round trips per request come from ``stridegraph_db_round_trips_total`` on ``/metrics``
(summed over its labels) before and after a run. ``/metrics`` is per process, and with several
workers a scrape lands on one of them, so for more than one worker the bench falls back to
PostgreSQL's ``pg_stat_database`` (xact_commit + xact_rollback of the bench database): that
counts transactions, a lower bound of round trips (BEGIN; SELECT; COMMIT is one). The table
marks which source each figure comes from.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from stridegraph.config import load_settings
from stridegraph.db import migrate
from stridegraph.db.keys import email_key
from stridegraph.db.models import HIDE_FLAGS
from stridegraph.domain import tokens
from stridegraph.domain.passwords import PasswordService
from stridegraph.domain.users import OrderField, encode_cursor

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = Path(__file__).resolve().parent / "wrk"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench password 2026"
COUNTER = "stridegraph_db_round_trips_total"
REQUESTS = "stridegraph_http_requests_total"

ME_QUERY = (
    "query Me { me { id username name email city birthdate preferredLanguage gender units"
    " height maxHeartRate firstDayOfWeek currency accessType createdAt } }"
)
_NODE = "id username name city accessType createdAt"
USERS_QUERY = (
    "query Users($after: String) { users(first: 50, after: $after) { edges { cursor node { "
    + _NODE
    + " } } pageInfo { hasNextPage hasPreviousPage endCursor } } }"
)
USERS_TOTAL_QUERY = (
    "query UsersTotal($after: String) { users(first: 50, after: $after) { totalCount edges {"
    " cursor node { " + _NODE + " } } pageInfo { hasNextPage hasPreviousPage endCursor } } }"
)
USER_PAGE_QUERY = (
    "query UserPage($page: Int!) { userPage(page: $page, perPage: 50) { totalCount page perPage"
    " pageCount items { " + _NODE + " } } }"
)
LOGIN_QUERY = (
    "mutation Login($u: String!, $p: String!) { login(username: $u, password: $p) {"
    " accessToken errors { code } } }"
)

#: Work items, in the order they run and are reported.
WORK = (
    "me",
    "users",
    "users_total",
    "users_mid",
    "users_total_mid",
    "user_page",
    "login",
    "me_flood",
)
WORK_HELP = {
    "me": "`me`, 15 fields, a bearer token per wrk thread",
    "users": "`users(first: 50)` from the start, no totalCount (admin token)",
    "users_total": "`users(first: 50)` with totalCount, from the start",
    "users_mid": "`users(first: 50, after: <cursor of the middle user>)`",
    "users_total_mid": "the same from the middle cursor, with totalCount",
    "user_page": "`userPage(page: <middle>, perPage: 50)` (offset page + total)",
    "login": "`login` with the right password, each request another account",
    "me_flood": "`me` while a second wrk floods `login` on the same server",
}


# ------------------------------------------------------------------------------ options


@dataclasses.dataclass
class Options:
    users: int
    duration: int
    connections: int
    login_connections: int
    rounds: int
    threads: int
    workers: list[int]
    only: list[str]
    output: Path | None
    quick: bool
    warmup: int
    postgres: str


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=None, help="users to seed (default 10000)")
    parser.add_argument("--duration", type=int, default=None, help="whole seconds per run (10)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (50)")
    parser.add_argument(
        "--login-connections",
        type=int,
        default=None,
        help="wrk connections for login and the login flood (default: --connections)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (3)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--workers", default=None, help='stridegraph worker counts ("1,2")')
    parser.add_argument("--only", default=None, help=f"comma list of work items: {','.join(WORK)}")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where RESULTS.md goes (default bench/RESULTS.md; with --quick: not written)",
    )
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help=f"a PostgreSQL DSN with CREATE DATABASE rights (default {DEFAULT_POSTGRES})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 300 users, 1 round, 2 s runs, 1 worker, 2 login connections",
    )
    ns = parser.parse_args(argv)
    quick = bool(ns.quick)
    only = [w.strip() for w in ns.only.split(",")] if ns.only else list(WORK)
    unknown = [w for w in only if w not in WORK]
    if unknown:
        parser.error(f"unknown work item(s) {', '.join(unknown)}; known: {', '.join(WORK)}")
    workers = [int(w) for w in (ns.workers or ("1" if quick else "1,2")).split(",") if w.strip()]
    if not workers or min(workers) < 1:
        parser.error("--workers needs positive counts, e.g. 1,2")
    users = ns.users if ns.users is not None else (300 if quick else 10_000)
    if users < 100:
        parser.error("--users must be at least 100")
    output = ns.output
    if output is None and not quick:
        output = ROOT / "bench" / "RESULTS.md"
    return Options(
        users=users,
        duration=ns.duration if ns.duration is not None else (2 if quick else 10),
        connections=ns.connections,
        login_connections=ns.login_connections or (2 if quick else ns.connections),
        rounds=ns.rounds if ns.rounds is not None else (1 if quick else 3),
        threads=ns.threads,
        workers=workers,
        only=[w for w in WORK if w in only],
        output=output,
        quick=quick,
        warmup=0 if quick else 2,
        postgres=ns.postgres,
    )


# ------------------------------------------------------------------------------ database


#: The server the throwaway database is made on (``--postgres``), as a DSN of a database we
#: may connect to for CREATE/DROP DATABASE.
POSTGRES = [DEFAULT_POSTGRES]


def pg_dsn(database: str) -> str:
    parts = urlsplit(POSTGRES[0].replace("+asyncpg", ""))
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


async def _admin_sql(sql: str) -> None:
    conn = await asyncpg.connect(pg_dsn("postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclasses.dataclass
class Seed:
    """What the bench knows about the seeded data."""

    admin_token: str
    user_tokens: list[str]  # one per seeded regular user, in id order
    usernames: list[str]  # regular users, in id order
    mid_cursor: str
    mid_page: int


async def seed(database: str, secret_key: str, password_hash: str, n: int) -> Seed:
    """N regular users and one admin, with privacy and integration rows and a live session
    each, by COPY. Every user has the same (production-cost) password hash: login measures
    verification, which costs the same for any hash of these parameters."""
    now = dt.datetime.now(dt.UTC)
    conn = await asyncpg.connect(pg_dsn(database))
    try:
        users: list[tuple[Any, ...]] = []
        sessions: list[tuple[Any, ...]] = []
        tokens_out: list[str] = []
        usernames: list[str] = []
        languages = ("us", "de", "fr", "es", "it", "nl", "pt")
        for i in range(n + 1):
            user_id = i + 1
            admin = i == 0
            username = "admin" if admin else f"user{i:05d}"
            email = f"{username}@example.com"
            users.append(
                (
                    user_id,
                    "Bench Admin" if admin else f"Bench User {i}",
                    username,
                    email,
                    email_key(email),
                    password_hash,
                    f"City {i % 97}",
                    dt.date(1970 + i % 40, 1 + i % 12, 1 + i % 28),
                    languages[i % len(languages)],
                    ("male", "female", "unspecified")[i % 3],
                    "metric" if i % 4 else "imperial",
                    150 + i % 50,
                    160 + i % 40,
                    "admin" if admin else "regular",
                    None,
                    True,
                    "monday",
                    "euro",
                    False,
                    None,
                    None,
                    None,
                    True,
                    False,
                    now,
                    now - dt.timedelta(seconds=n + 1 - i),
                    now,
                )
            )
            token, access_hash = tokens.issue(secret_key, tokens.ACCESS)
            _, refresh_hash = tokens.issue(secret_key, tokens.REFRESH)
            sessions.append(
                (
                    user_id,
                    user_id,
                    access_hash,
                    now + dt.timedelta(days=7),
                    refresh_hash,
                    now + dt.timedelta(days=30),
                    0,
                    "bench",
                    "127.0.0.1",
                    now,
                    now,
                    None,
                )
            )
            if admin:
                admin_token = token
            else:
                tokens_out.append(token)
                usernames.append(username)
        await conn.copy_records_to_table(
            "users",
            records=users,
            columns=[
                "id", "name", "username", "email", "email_key", "password_hash", "city",
                "birthdate", "preferred_language", "gender", "units", "height",
                "max_heart_rate", "access_type", "photo_path", "active", "first_day_of_week",
                "currency", "mfa_enabled", "mfa_secret", "mfa_pending_secret",
                "mfa_last_used_step", "email_verified", "pending_admin_approval",
                "password_changed_at", "created_at", "updated_at",
            ],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "user_privacy_settings",
            records=[(u[0], "public", *([False] * len(HIDE_FLAGS))) for u in users],
            columns=["user_id", "default_activity_visibility", *HIDE_FLAGS],
        )
        await conn.copy_records_to_table(
            "user_integrations",
            records=[(u[0], False, False) for u in users],
            columns=["user_id", "strava_linked", "garminconnect_linked"],
        )
        await conn.copy_records_to_table(
            "sessions",
            records=sessions,
            columns=[
                "id", "user_id", "access_token_hash", "access_expires_at", "refresh_token_hash",
                "refresh_expires_at", "generation", "user_agent", "client_address",
                "created_at", "last_used_at", "revoked_at",
            ],
        )  # fmt: skip
        for table in ("users", "sessions"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        await conn.execute("ANALYZE")
        middle = (n + 1) // 2
        row = await conn.fetchrow(
            "SELECT lower(username) AS key, id FROM users ORDER BY lower(username), id"
            " OFFSET $1 LIMIT 1",
            middle - 1,
        )
        assert row is not None
    finally:
        await conn.close()
    return Seed(
        admin_token=admin_token,
        user_tokens=tokens_out,
        usernames=usernames,
        mid_cursor=encode_cursor(OrderField.USERNAME, row["key"], row["id"]),
        mid_page=max(1, (n + 1) // 100),
    )


async def xacts(database: str) -> int:
    """Transactions the bench database has seen (read from another database, so the
    reading itself does not count)."""
    conn = await asyncpg.connect(pg_dsn("postgres"))
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        value = await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
            database,
        )
        return int(value or 0)
    finally:
        await conn.close()


async def versions(database: str) -> str:
    conn = await asyncpg.connect(pg_dsn(database))
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


# ------------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class App:
    """One server under test."""

    label: str
    process: subprocess.Popen[bytes]
    url: str
    workers: int
    log_path: Path
    is_ceiling: bool = False

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the server process itself with one worker,
        uvicorn's spawned children (not multiprocessing's resource tracker) with several."""
        if self.workers == 1:
            return [self.process.pid]
        pids = []
        for child in _children(self.process.pid):
            cmdline = _cmdline(child)
            if "resource_tracker" not in cmdline:
                pids.append(child)
        return pids

    def all_pids(self) -> list[int]:
        return [self.process.pid, *_children(self.process.pid)]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with suppress(OSError):
                found += [
                    int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                ]
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def quiesce(app: App, limit: float = 30.0) -> None:
    """Wait until the app stops burning CPU (a login run leaves queued argon2 work behind
    when wrk hangs up), so it does not slow the next run."""
    deadline = time.monotonic() + limit
    pids = app.all_pids()
    last = cpu_seconds(pids)
    while time.monotonic() < deadline:
        time.sleep(0.15)
        now = cpu_seconds(pids)
        if now - last < 0.015:
            return
        last = now


def wait_healthy(app: App, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            raise RuntimeError(f"{app.label} exited early:\n{app.log_path.read_text()[-3000:]}")
        with suppress(httpx.HTTPError):
            healthy = httpx.get(f"{app.url}/healthz", timeout=1).status_code == 200
            if healthy and len(app.worker_pids()) >= app.workers:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{app.label} did not become healthy:\n{app.log_path.read_text()[-3000:]}")


def start_stridegraph(env: dict[str, str], workers: int, logs: Path) -> App:
    port = free_port()
    log_path = logs / f"stridegraph-{workers}w.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "stridegraph.cli", "serve", "--port", str(port),
         "--workers", str(workers)],
        env={**os.environ, **env},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=logs,
    )  # fmt: skip
    return App(f"stridegraph {workers}w", process, f"http://127.0.0.1:{port}", workers, log_path)


def start_ceiling(env: dict[str, str], logs: Path) -> App:
    port = free_port()
    log_path = logs / "ceiling.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.ceiling:app", "--port", str(port),
         "--workers", "1", "--no-access-log", "--log-level", "warning", "--no-server-header"],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )  # fmt: skip
    return App("ceiling", process, f"http://127.0.0.1:{port}", 1, log_path, is_ceiling=True)


def stop(app: App) -> None:
    if app.process.poll() is None:
        app.process.terminate()
        try:
            app.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            app.process.kill()
            app.process.wait()


# ------------------------------------------------------------------------------ requests


def body(item: str, seed: Seed) -> dict[str, Any]:
    if item in ("me", "me_flood"):
        return {"query": ME_QUERY, "operationName": "Me"}
    if item in ("users", "users_mid"):
        after = seed.mid_cursor if item == "users_mid" else None
        return {"query": USERS_QUERY, "operationName": "Users", "variables": {"after": after}}
    if item in ("users_total", "users_total_mid"):
        after = seed.mid_cursor if item == "users_total_mid" else None
        return {
            "query": USERS_TOTAL_QUERY,
            "operationName": "UsersTotal",
            "variables": {"after": after},
        }
    if item == "user_page":
        return {
            "query": USER_PAGE_QUERY,
            "operationName": "UserPage",
            "variables": {"page": seed.mid_page},
        }
    if item == "login":
        return {
            "query": LOGIN_QUERY,
            "operationName": "Login",
            "variables": {"u": "%USER%", "p": PASSWORD},
        }
    raise ValueError(item)


def tokens_for(item: str, seed: Seed, threads: int) -> list[str]:
    if item in ("me", "me_flood"):
        return seed.user_tokens[:threads]
    return [seed.admin_token]


def normalise(item: str, payload: Any) -> Any:
    """What must agree between the apps (a login's token differs by nature)."""
    if item == "login":
        login = (payload.get("data") or {}).get("login") or {}
        return {"token": str(login.get("accessToken") or "")[:4], "errors": login.get("errors")}
    return payload


def check_answers(apps: list[App], items: list[str], seed: Seed) -> None:
    """Every app answers every work item, alike and without errors, before any load."""
    reference: dict[str, Any] = {}
    for app in apps:
        with httpx.Client(timeout=60) as client:
            for item in items:
                payload = body(item, seed)
                headers = {}
                if item == "login":
                    payload = {**payload, "variables": {"u": seed.usernames[-1], "p": PASSWORD}}
                else:
                    headers["Authorization"] = f"Bearer {tokens_for(item, seed, 1)[0]}"
                response = client.post(f"{app.url}/graphql", json=payload, headers=headers)
                answer = response.json()
                if response.status_code != 200 or answer.get("errors"):
                    raise RuntimeError(f"{app.label} {item}: {response.status_code} {answer}")
                got = normalise(item, answer)
                if item == "login" and got["token"] != "sga_":
                    raise RuntimeError(f"{app.label} login gave no token: {answer}")
                if item in reference and reference[item] != got:
                    raise RuntimeError(
                        f"{app.label} answers {item} differently:\n{json.dumps(got)[:2000]}\n"
                        f"expected:\n{json.dumps(reference[item])[:2000]}"
                    )
                reference.setdefault(item, got)


def scrape(app: App) -> tuple[float | None, float | None]:
    """(round trips, GraphQL requests served) from ``/metrics``, each summed over its labels;
    None where the server has no such counter. Dividing by what the server served, not by
    what wrk completed, keeps the requests wrk left in flight at its end out of the ratio."""
    try:
        text = httpx.get(f"{app.url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return None, None
    return _counter(text, COUNTER), _counter(text, REQUESTS, 'route="/graphql"')


def _counter(text: str, name: str, label: str = "") -> float | None:
    total, seen = 0.0, False
    for line in text.splitlines():
        rest = line[len(name) :] if line.startswith(name) else ""
        if rest[:1] in ("{", " ") and label in rest:
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return total if seen else None


# ------------------------------------------------------------------------------ wrk


@dataclasses.dataclass
class Run:
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    bad: int
    p50_ms: float
    p99_ms: float
    round_trips: float | None
    round_trip_source: str
    rss_mb: float | None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_command(
    app: App, item: str, data: Path, opts: Options, duration: int, connections: int
) -> list[str]:
    script = "login.lua" if item == "login" else "token.lua"
    threads = min(opts.threads, connections)
    return [
        "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s",
        "--timeout", "60s", "-s", str(WRK_DIR / script), f"{app.url}/graphql", "--",
        str(data), str(threads),
    ]  # fmt: skip


def parse_wrk(output: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith("BENCHJSON "):
            return dict(json.loads(line[len("BENCHJSON ") :]))
    raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")


def data_file(work: Path, item: str, seed: Seed, opts: Options) -> Path:
    path = work / f"{item}.wrk"
    kind = "login" if item == "me_flood_login" else item
    payload = json.dumps(body(kind, seed), separators=(",", ":"))
    if kind == "login":
        # the accounts whose tokens drive `me` sign in nowhere; the rest, each once a round
        lines = [payload, *seed.usernames[opts.threads :]]
    else:
        lines = [payload, *tokens_for(kind, seed, opts.threads)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_once(app: App, item: str, work: Path, seed: Seed, opts: Options, database: str) -> Run:
    """One wrk run. The app was left idle by the run before (``quiesce``)."""
    counter_source = app.workers == 1
    if counter_source:
        before, served_before = scrape(app)
    else:
        time.sleep(1.2)  # PostgreSQL publishes a backend's counts about a second after idle
        before, served_before = float(asyncio.run(xacts(database))), None
    flood: subprocess.Popen[str] | None = None
    if item == "me_flood":
        flood_data = data_file(work, "me_flood_login", seed, opts)
        lead = 0.5 if opts.quick else 1.0  # wrk takes whole seconds: the flood runs 1 or 2 s longer
        flood = subprocess.Popen(
            wrk_command(
                app,
                "login",
                flood_data,
                opts,
                opts.duration + round(2 * lead),
                opts.login_connections,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(lead)
    connections = opts.login_connections if item == "login" else opts.connections
    data = data_file(work, item, seed, opts)
    command = wrk_command(app, item, data, opts, opts.duration, connections)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if flood is not None:
        flood_out, _ = flood.communicate()
        parse_wrk(flood_out)  # fails loudly if the flood did not run
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    result = parse_wrk(done.stdout)
    quiesce(app)
    requests = int(result["requests"])
    if counter_source:
        after, served_after = scrape(app)
        source = "counter"
    else:
        time.sleep(1.2)
        after, served_after = float(asyncio.run(xacts(database))), None
        source = "xacts"
    served = float(requests)
    if served_before is not None and served_after is not None:
        served = max(served_after - served_before, 1.0)
    round_trips = None
    if before is not None and after is not None and requests and item != "me_flood":
        round_trips = (after - before) / served
    rss = [r for r in (rss_mb(pid) for pid in app.worker_pids()) if r is not None]
    return Run(
        requests=requests,
        seconds=result["duration_us"] / 1e6,
        non2xx=int(result["non2xx"]),
        socket_errors=int(result["connect"] + result["read"] + result["write"] + result["timeout"]),
        bad=int(result["bad"]),
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        round_trips=round_trips,
        round_trip_source=source,
        rss_mb=max(rss) if rss else None,
    )


# ------------------------------------------------------------------------------ report


@dataclasses.dataclass
class Row:
    item: str
    app: str
    runs: list[Run]

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    def round_trips(self) -> str:
        values = [r.round_trips for r in self.runs if r.round_trips is not None]
        if not values:
            return "n/a"
        mark = "" if self.runs[0].round_trip_source == "counter" else " (xacts)"
        return f"{statistics.median(values):.2f}{mark}"

    def rss(self) -> str:
        values = [r.rss_mb for r in self.runs if r.rss_mb is not None]
        return f"{max(values):.0f}" if values else "n/a"


def table(rows: list[Row]) -> str:
    ceiling = {r.item: r.median("rps") for r in rows if r.app == "ceiling"}
    lines = [
        "| work | app | req/s | p50 ms | p99 ms | non-2xx | socket errors | bad answers"
        " | SQL round trips/req | RSS/worker MB | req/s vs ceiling |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        rps = row.median("rps")
        ratio = f"{rps / ceiling[row.item]:.2f}x" if ceiling.get(row.item) else "n/a"
        lines.append(
            f"| {row.item} | {row.app} | {rps:,.0f} | {row.median('p50_ms'):,.1f}"
            f" | {row.median('p99_ms'):,.1f} | {sum(r.non2xx for r in row.runs)}"
            f" | {sum(r.socket_errors for r in row.runs)} | {sum(r.bad for r in row.runs)}"
            f" | {row.round_trips()} | {row.rss()} | {ratio} |"
        )
    return "\n".join(lines)


def flood_lines(rows: list[Row]) -> list[str]:
    idle = {r.app: r.median("p99_ms") for r in rows if r.item == "me"}
    out = []
    for row in rows:
        if row.item == "me_flood" and idle.get(row.app):
            busy = row.median("p99_ms")
            out.append(
                f"- {row.app}: `me` p99 {busy:,.1f} ms during the login flood vs"
                f" {idle[row.app]:,.1f} ms idle: {busy / idle[row.app]:.2f}x (target <= 2x)"
            )
    return out


def git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "log", "-1", "--format=%h", "--", "stridegraph"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()  # the last commit that changed the server, not the bench
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "stridegraph"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return rev + (" (stridegraph/ modified)" if dirty else "")
    except OSError:
        return "unknown"


def version_lines(postgres: str) -> list[str]:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    return [
        f"- python {sys.version.split()[0]}, stridegraph {git_rev()}, PostgreSQL {postgres},"
        f" strawberry-graphql {version('strawberry-graphql')}, uvicorn {version('uvicorn')},"
        f" starlette {version('starlette')}, asyncpg {version('asyncpg')},"
        f" orjson {version('orjson')}, {wrk[0].split(' Copyright')[0] if wrk else 'wrk ?'}",
        f"- machine: {os.cpu_count()} CPUs (nproc), {platform_line()}",
    ]


def platform_line() -> str:
    return f"{platform.system()} {platform.release()} {platform.machine()}"


def report(rows: list[Row], opts: Options, command: str, postgres: str, started: str) -> str:
    items = [w for w in WORK if w in opts.only]
    parts = [
        "# Benchmark results",
        "",
        f"Command: `{command}`",
        "",
        f"- date: {started} (UTC)",
        *version_lines(postgres),
        f"- {opts.users:,} users, {opts.rounds} interleaved round(s), {opts.duration:g} s per run,"
        f" {opts.connections} connections ({opts.login_connections} for login and the flood),"
        f" {opts.threads} wrk threads; figures are medians over the rounds (non-2xx, socket"
        " errors and bad answers are sums)",
        "",
        table(rows),
        "",
        "Work items:",
        *[f"- `{w}`: {WORK_HELP[w]}" for w in items],
        "",
        "Columns: *bad answers* are login responses without an access token (a refused login"
        " is an HTTP 200). *SQL round trips/req* come from the `stridegraph_db_round_trips_total`"
        " counter on `/metrics` (the ceiling counts its own statements); `n/a` while the server"
        " has no such counter; `(xacts)` marks the fallback for several workers (`/metrics` is"
        " per process): PostgreSQL's xact_commit + xact_rollback delta of the bench database,"
        " a lower bound of round trips. For `me_flood` the figure would mix in the logins and"
        " is left out. *RSS/worker* is the largest VmRSS of the serving processes after a run.",
    ]
    flood = flood_lines(rows)
    if flood:
        parts += ["", "Login flood (issue 12, point 7):", *flood]
    parts += [
        "",
        "## Where the time goes",
        "",
        "_To be filled in by a human (profile, top frames)._",
        "",
    ]
    return "\n".join(parts)


# ------------------------------------------------------------------------------ main


def hash_password(env: dict[str, str]) -> str:
    """One hash at production cost, made by stridegraph's own PasswordService."""
    settings = load_settings(env)
    service = PasswordService(settings)
    try:
        return asyncio.run(service.hash(PASSWORD))
    finally:
        service.close()


@contextmanager
def throwaway_database() -> Iterator[str]:
    name = f"stridegraph_bench_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    POSTGRES[0] = opts.postgres
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    command = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    secret_key = secrets.token_urlsafe(32)
    apps: list[App] = []
    with (
        tempfile.TemporaryDirectory(prefix="stridegraph-bench-") as tmp,
        throwaway_database() as db,
    ):
        work = Path(tmp)
        url = pg_dsn(db).replace("postgresql://", "postgresql+asyncpg://", 1)
        env = {
            "STRIDEGRAPH_DATABASE_URL": url,
            "STRIDEGRAPH_SECRET_KEY": secret_key,
            "STRIDEGRAPH_ENCRYPTION_KEY": secrets.token_urlsafe(32),
            "STRIDEGRAPH_DATA_DIR": str(work / "data"),
        }
        try:
            t0 = time.monotonic()
            migrate.upgrade(url)
            password_hash = hash_password(env)
            seeded = asyncio.run(seed(db, secret_key, password_hash, opts.users))
            print(
                f"migrated and seeded {opts.users:,} users in {time.monotonic() - t0:.1f} s",
                flush=True,
            )
            ceiling_env = {"BENCH_DSN": pg_dsn(db), "BENCH_SECRET_KEY": secret_key}
            apps = [start_stridegraph(env, w, work) for w in opts.workers]
            apps.append(start_ceiling(ceiling_env, work))
            for app in apps:
                wait_healthy(app)
            check_answers(apps, opts.only, seeded)
            print(f"servers up and answering alike at {time.monotonic() - t0:.1f} s", flush=True)
            if opts.warmup:
                for app in apps:
                    warm = wrk_command(
                        app,
                        "me",
                        data_file(work, "me", seeded, opts),
                        opts,
                        opts.warmup,
                        opts.connections,
                    )
                    subprocess.run(warm, capture_output=True, check=False)
            for app in apps:
                quiesce(app)
            rows = {
                (item, app.label): Row(item, app.label, []) for item in opts.only for app in apps
            }
            for round_no in range(opts.rounds):
                for item in opts.only:
                    for app in apps:
                        run = run_once(app, item, work, seeded, opts, db)
                        rows[item, app.label].runs.append(run)
                        print(
                            f"{time.monotonic() - t0:6.1f}s round {round_no + 1} {item:16}"
                            f" {app.label:15} {run.rps:9,.0f} req/s"
                            f"  p99 {run.p99_ms:9,.1f} ms  non-2xx {run.non2xx}  bad {run.bad}",
                            flush=True,
                        )
            postgres = asyncio.run(versions(db))
        finally:
            for app in apps:
                stop(app)
        ordered = list(rows.values())
        print()
        print(table(ordered))
        for line in flood_lines(ordered):
            print(line)
        if opts.output is not None:
            opts.output.write_text(report(ordered, opts, command, postgres, started))
            print(f"\nwrote {opts.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped, database dropped", file=sys.stderr)
        sys.exit(130)
