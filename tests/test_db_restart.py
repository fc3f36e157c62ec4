"""Surviving a database restart without a pool pre-ping (issue 12 point 2): every pooled
connection is killed under a running server (``pg_terminate_backend``, the effect of a
restart on the server's connections, without stopping the cluster other tests share), and
the next requests, more than the pool holds, all succeed: a read that meets a dead
connection is retried once on a fresh one (``domain/unit.py``)."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import server_env, start_server, stop_server
from tests.helpers import login_token, make_user

ME = "query { me { id username } }"
POOL = 4


async def kill_every_backend(database_url: str) -> int:
    url = make_url(database_url)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        killed = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return len(killed)


async def test_requests_survive_killed_connections(settings, services, db, backend, tmp_path):
    if backend != "postgresql":
        pytest.skip("SQLite has no server to lose")
    user = await make_user(services, "rita")
    token = await login_token(services, user)
    env = server_env(settings, STRIDEGRAPH_DB_POOL_SIZE=str(POOL), STRIDEGRAPH_DB_MAX_OVERFLOW="0")
    server = start_server(env, tmp_path)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

            async def me() -> httpx.Response:
                return await client.post("/graphql", json={"query": ME}, headers=headers)

            # fill the pool: concurrent requests open every pooled connection
            warm = await asyncio.gather(*(me() for _ in range(POOL * 3)))
            assert all(r.status_code == 200 and not r.json().get("errors") for r in warm)
            await db.engine.dispose()  # the test's own connections need not survive
            assert await kill_every_backend(settings.database_url) >= 1
            await asyncio.sleep(0.5)  # let the server's connections notice
            for _ in range(POOL * 3):  # one at a time: each pooled connection is met
                response = await me()
                assert response.status_code == 200, response.text
                assert not response.json().get("errors"), response.json()
                assert response.json()["data"]["me"]["id"]
            assert (await client.get("/readyz")).status_code == 200
    finally:
        stop_server(server)
