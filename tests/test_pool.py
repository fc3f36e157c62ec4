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
