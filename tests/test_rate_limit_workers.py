"""Limits and revocations hold across uvicorn workers: the real server with two workers on
PostgreSQL, each request on a fresh connection (so the kernel hands it to either worker),
then a different process reading the same database.

One server serves both checks (starting two workers costs seconds)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings, server_env, start_server, stop_server
from tests.helpers import PASSWORD, make_user

pytestmark = pytest.mark.slow

LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken errors { code retryAfterSeconds } } }"""
ME = "{ me { username } }"


@pytest.fixture
def settings(db, tmp_path: Path):
    return make_settings(db.url, tmp_path / "data", login_max_failures_account=3)


async def post(
    client: httpx.AsyncClient, query: str, variables=None, token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def login(client: httpx.AsyncClient, username: str, password: str) -> list[str]:
    body = await post(client, LOGIN, {"u": username, "p": password})
    assert not body.get("errors"), body
    return [e["code"] for e in body["data"]["login"]["errors"]]


async def rate_limit_holds(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert await login(client, "alice", "wrong") == ["INVALID_CREDENTIALS"]
    for _ in range(4):
        assert await login(client, "alice", PASSWORD) == ["TOO_MANY_ATTEMPTS"]
    # a concurrent burst gets no more than the limit through, whichever worker serves it
    burst = await asyncio.gather(*(login(client, "bob", f"guess {i}") for i in range(10)))
    assert sum(codes == ["INVALID_CREDENTIALS"] for codes in burst) <= 3
    assert all(codes in (["INVALID_CREDENTIALS"], ["TOO_MANY_ATTEMPTS"]) for codes in burst)


async def logout_is_honoured_at_once(client: httpx.AsyncClient) -> None:
    body = await post(client, LOGIN, {"u": "carol", "p": PASSWORD})
    token = body["data"]["login"]["accessToken"]
    for _ in range(4):
        assert await post(client, ME, token=token) == {"data": {"me": {"username": "carol"}}}
    body = await post(client, "mutation { logout { errors { code } } }", token=token)
    assert body == {"data": {"logout": {"errors": []}}}
    for _ in range(6):
        body = await post(client, ME, token=token)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_limits_and_revocation_hold_across_two_workers(
    backend, settings, services, gql, tmp_path
):
    if backend != "postgresql":
        pytest.skip("several server processes on one database: the PostgreSQL deployment")
    for name in ("alice", "bob", "carol"):
        await make_user(services, name)
    env = server_env(settings, STRIDEGRAPH_LOGIN_MAX_FAILURES_ACCOUNT="3")
    server = start_server(env, tmp_path, workers=2)
    # no keep-alive: every request opens a new connection, which either worker may accept
    limits = httpx.Limits(max_keepalive_connections=0)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
            await rate_limit_holds(client)
            await logout_is_honoured_at_once(client)
    finally:
        stop_server(server)
    # another process (this one) still refuses: the count is in the database, not a worker
    body = await gql.data(LOGIN, {"u": "alice", "p": PASSWORD})
    assert [e["code"] for e in body["login"]["errors"]] == ["TOO_MANY_ATTEMPTS"]
