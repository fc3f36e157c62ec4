"""No pool stall (issue 12 point 3): recording a credential's last use never takes a second
pooled connection while the request holds one. A burst of requests whose sessions were all
idle past the write interval, on a pool much smaller than the burst, finishes at once, and
the last-used times are written afterwards, out of band (``domain/usage.py``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import httpx
import pytest
from sqlalchemy import select, update

from stridegraph.config import ConfigError, load_settings
from stridegraph.db.models import Session
from tests.conftest import server_env, start_server, stop_server
from tests.helpers import login_token, make_user

ME = "query { me { id username email } }"
BURST = 50
POOL_TIMEOUT = 3


async def test_a_burst_on_idle_sessions_does_not_stall_a_small_pool(
    settings, services, db, backend, tmp_path
):
    if backend != "postgresql":
        pytest.skip("SQLite's pool is not what stalled; PostgreSQL's is")
    users = [await make_user(services, f"idle{i}") for i in range(5)]
    tokens = [await login_token(services, users[i % 5]) for i in range(BURST)]
    idle_since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    async with db.engine.begin() as conn:
        await conn.execute(update(Session).values(last_used_at=idle_since))
    env = server_env(
        settings,
        STRIDEGRAPH_DB_POOL_SIZE="5",
        STRIDEGRAPH_DB_MAX_OVERFLOW="0",
        STRIDEGRAPH_DB_POOL_TIMEOUT=str(POOL_TIMEOUT),
    )
    server = start_server(env, tmp_path)
    try:
        limits = httpx.Limits(max_connections=BURST)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:

            async def me(token: str) -> tuple[int, dict]:
                response = await client.post(
                    "/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {token}"}
                )
                return response.status_code, response.json()

            started = time.monotonic()
            answers = await asyncio.gather(*(me(token) for token in tokens))
            elapsed = time.monotonic() - started
        failed = [a for a in answers if a[0] != 200 or a[1].get("errors")]
        assert not failed, (len(failed), failed[:1])
        assert all(a[1]["data"]["me"]["id"] for a in answers)
        assert elapsed < POOL_TIMEOUT + 3, elapsed  # nobody waited out the pool timeout
        assert "could not record credential use" not in server.log()

        deadline = time.monotonic() + 20
        while True:
            async with db.engine.connect() as conn:
                times = (await conn.scalars(select(Session.last_used_at))).all()
            if all(t > idle_since + dt.timedelta(minutes=1) for t in times):
                break
            assert time.monotonic() < deadline, "last_used_at was never written"
            await asyncio.sleep(0.5)
        assert len(times) == BURST
    finally:
        stop_server(server)


async def test_noted_uses_are_written_in_one_statement_and_never_backwards(
    services, db, sql_counter
):
    user = await make_user(services, "nell")
    await login_token(services, user)
    await login_token(services, user)
    async with db.engine.connect() as conn:
        ids = sorted((await conn.scalars(select(Session.id))).all())
    base = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=5)
    usage = services.usage
    usage.session_used(ids[0], base)
    usage.session_used(ids[0], base + dt.timedelta(seconds=30))  # the latest wins
    usage.session_used(ids[0], base + dt.timedelta(seconds=10))
    usage.session_used(ids[1], base)
    assert usage.pending == 2
    sql_counter.reset()
    await usage.flush(services.sessions)
    assert sql_counter.count == 1, sql_counter.statements  # one UPDATE for both sessions
    assert usage.pending == 0

    async def stored() -> dict[int, dt.datetime]:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(select(Session.id, Session.last_used_at))).all()
        return {row.id: row.last_used_at for row in rows}

    assert await stored() == {ids[0]: base + dt.timedelta(seconds=30), ids[1]: base}
    usage.session_used(ids[0], base)  # older than what is stored (another worker's write)
    await usage.flush(services.sessions)
    assert (await stored())[ids[0]] == base + dt.timedelta(seconds=30)
    sql_counter.reset()
    await usage.flush(services.sessions)
    assert sql_counter.count == 0  # nothing noted: nothing sent


def test_pool_settings_are_read_and_checked(tmp_path):
    env = {"STRIDEGRAPH_DATA_DIR": str(tmp_path)}
    defaults = load_settings(env)
    assert (defaults.db_pool_size, defaults.db_max_overflow) == (10, 0)
    assert defaults.db_pool_timeout_seconds == 30
    chosen = load_settings(
        {
            **env,
            "STRIDEGRAPH_DB_POOL_SIZE": "5",
            "STRIDEGRAPH_DB_MAX_OVERFLOW": "0",
            "STRIDEGRAPH_DB_POOL_TIMEOUT": "3",
        }
    )
    assert (chosen.db_pool_size, chosen.db_max_overflow, chosen.db_pool_timeout_seconds) == (
        5,
        0,
        3,
    )
    for name, value in (("DB_POOL_TIMEOUT", "0"), ("DB_MAX_OVERFLOW", "-1")):
        with pytest.raises(ConfigError) as raised:
            load_settings({**env, f"STRIDEGRAPH_{name}": value})
        assert raised.value.variable == f"STRIDEGRAPH_{name}"


async def test_shutdown_writes_the_uses_still_pending(settings, services, db, tmp_path):
    user = await make_user(services, "otto")
    token = await login_token(services, user)
    idle_since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    async with db.engine.begin() as conn:
        await conn.execute(update(Session).values(last_used_at=idle_since))
    server = start_server(server_env(settings), tmp_path)
    try:
        response = httpx.post(
            f"{server.url}/graphql",
            json={"query": ME},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200 and not response.json().get("errors")
    finally:
        stop_server(server)  # well before the next periodic flush
    assert "Application shutdown complete." in server.log(), server.log()
    async with db.engine.connect() as conn:
        stored = (await conn.scalars(select(Session.last_used_at))).one()
    assert stored > idle_since + dt.timedelta(minutes=1)
