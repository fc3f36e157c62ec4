"""SQLite with several workers (issue 13, point 6): made safe, not refused.

Everything workers must share lives in the database file: the rate limits count rows of
``login_attempts``, uniqueness is the unique indexes', the last-admin rule a write lock, and
``serve`` migrates once, in the parent, before uvicorn forks its workers. SQLite's file lock
serialises writers across processes as it does across one process's connections (WAL, and
a busy timeout so a writer waits instead of failing). What stays per worker is per process
by design (argon2 slots, the mail queue, ``/metrics``).

The real server with two workers on one SQLite file, every request on a fresh connection
(so the kernel hands it to either worker): sign-up uniqueness holds under a race, the login
limits hold, and a burst of 50 concurrent writes gets no "database is locked" and no 5xx."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import FAST_HASH, LiveServer, start_server, stop_server
from tests.helpers import PASSWORD
from tests.test_rate_limit_workers import rate_limit_holds

pytestmark = pytest.mark.slow

SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) {
  status errors { field code } } }"""


def sign_up_input(username: str, email: str | None = None) -> dict[str, Any]:
    return {
        "username": username,
        "email": email or f"{username}@example.com",
        "name": username.title(),
        "password": PASSWORD,
    }


async def sign_up(client: httpx.AsyncClient, username: str, email: str | None = None) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": SIGN_UP, "variables": {"input": sign_up_input(username, email)}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["signUp"]


def wait_for_workers(server: LiveServer, n: int) -> None:
    """Until ``n`` workers have finished their start-up (start_server waits for the first)."""
    deadline = time.monotonic() + 60
    while server.log().count("Application startup complete.") < n:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)


async def test_two_workers_on_one_sqlite_file_are_safe(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {
        "STRIDEGRAPH_DATA_DIR": str(data),
        "STRIDEGRAPH_ARGON2_TIME_COST": str(FAST_HASH["argon2_time_cost"]),
        "STRIDEGRAPH_ARGON2_MEMORY_COST": str(FAST_HASH["argon2_memory_cost"]),
        "STRIDEGRAPH_ARGON2_PARALLELISM": str(FAST_HASH["argon2_parallelism"]),
        "STRIDEGRAPH_LOGIN_MAX_FAILURES_ACCOUNT": "3",
        "STRIDEGRAPH_SIGNUP_MAX_PER_ADDRESS": "1000",
        "STRIDEGRAPH_PURGE_INTERVAL": "1",  # both workers purge too, alongside the traffic
    }
    server = start_server(env, tmp_path, workers=2)  # serve migrates the new file itself
    database = data / "stridegraph.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE server_settings SET signup_enabled = 1")
    limits = httpx.Limits(max_keepalive_connections=0)
    try:
        wait_for_workers(server, 2)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
            # one username, twenty sign-ups at once: exactly one account
            race = await asyncio.gather(
                *(sign_up(client, "racer", f"racer{i}@example.com") for i in range(20))
            )
            winners = [r for r in race if r["errors"] == []]
            assert len(winners) == 1 and winners[0]["status"] == "ACTIVE", race
            assert all(
                r["errors"] == [{"field": "username", "code": "USERNAME_TAKEN"}]
                for r in race
                if r not in winners
            ), race
            # a burst of 50 writes: every one commits, none is "database is locked"
            burst = await asyncio.gather(*(sign_up(client, f"user{i}") for i in range(50)))
            assert all(r == {"status": "ACTIVE", "errors": []} for r in burst), burst
            for name in ("alice", "bob"):
                assert (await sign_up(client, name))["errors"] == []
            await rate_limit_holds(client)
        assert server.process.poll() is None
    finally:
        stop_server(server)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE username = 'racer'").fetchone() == (
            1,
        )
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (53,)
    log = server.log()
    assert "database is locked" not in log and "Traceback" not in log, log[-3000:]
    assert "retention purge failed" not in log and log.count('"retention purge"') >= 2
