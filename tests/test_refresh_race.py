"""Refresh rotation under true concurrency (issue 11, point 9).

Ten clients present one refresh token at once, five rounds in a row: exactly one wins each
round, the others are refused with INVALID_TOKEN, and the session lives (its new tokens
work). Only a rotated token presented after the reuse grace is treated as a replay and ends
the session. Run through the ASGI app (one event loop, real database concurrency) with a
clock that follows real time plus an offset we can move, and against the real server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import httpx
from sqlalchemy import select

from stridegraph.db.models import Session
from tests.conftest import server_env, start_server, stop_server
from tests.helpers import PASSWORD, make_user

LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken refreshToken errors { code } } }"""
REFRESH = """mutation($t: String!) { refreshSession(refreshToken: $t) {
  accessToken refreshToken errors { field code } } }"""
ME = "{ me { username } }"
CALLS = 10
ROUNDS = 5


class OffsetClock:
    """Real time plus an offset: concurrent requests keep their true order, and the test can
    jump past the reuse grace without sleeping."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += dt.timedelta(seconds=seconds)


async def _post(http: httpx.AsyncClient, query: str, variables: dict[str, Any], token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def _sign_in(http: httpx.AsyncClient, username: str) -> tuple[str, str]:
    login = (await _post(http, LOGIN, {"u": username, "p": PASSWORD}))["login"]
    assert login["errors"] == []
    return login["accessToken"], login["refreshToken"]


async def _me(http: httpx.AsyncClient, token: str) -> str | None:
    response = await http.post(
        "/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {token}"}
    )
    body = response.json()
    return None if body.get("errors") else body["data"]["me"]["username"]


async def _the_session(db: Any) -> Any:
    async with db.engine.connect() as conn:
        (row,) = (await conn.execute(select(Session))).all()
        return row


async def _race_rounds(http: httpx.AsyncClient, db: Any, refresh_token: str) -> list[str]:
    """Run the rounds; return every refresh token that lost its place (rotated away)."""
    rotated = []
    for round_no in range(ROUNDS):
        results = await asyncio.gather(
            *(_post(http, REFRESH, {"t": refresh_token}) for _ in range(CALLS))
        )
        payloads = [r["refreshSession"] for r in results]
        winners = [p for p in payloads if not p["errors"]]
        losers = [p for p in payloads if p["errors"]]
        assert len(winners) == 1, (round_no, payloads)
        assert all(
            p["errors"] == [{"field": "refreshToken", "code": "INVALID_TOKEN"}]
            and p["accessToken"] is None
            for p in losers
        ), payloads
        row = await _the_session(db)
        assert row.revoked_at is None, f"round {round_no}: a loser revoked the session"
        assert row.generation == round_no + 1
        (winner,) = winners
        assert await _me(http, winner["accessToken"]) == "erin"
        rotated.append(refresh_token)
        refresh_token = winner["refreshToken"]
    rotated.append(refresh_token)  # the live one, last
    return rotated


async def test_concurrent_losers_are_refused_and_the_session_lives(http, services, db):
    clock = OffsetClock()
    services.clock = clock
    await make_user(services, "erin")
    _, first = await _sign_in(http, "erin")
    tokens = await _race_rounds(http, db, first)
    live = tokens[-1]

    # within the grace a rotated token is only refused...
    payload = (await _post(http, REFRESH, {"t": tokens[-2]}))["refreshSession"]
    assert payload["errors"] == [{"field": "refreshToken", "code": "INVALID_TOKEN"}]
    assert (await _the_session(db)).revoked_at is None

    # ...and its session's current refresh token still works
    again = (await _post(http, REFRESH, {"t": live}))["refreshSession"]
    assert again["errors"] == []
    assert await _me(http, again["accessToken"]) == "erin"

    # seconds later, a rotated token is a replay: the whole session ends
    clock.advance(services.settings.refresh_reuse_grace_seconds + 1)
    replay = (await _post(http, REFRESH, {"t": live}))["refreshSession"]
    assert replay["errors"] == [{"field": "refreshToken", "code": "INVALID_TOKEN"}]
    assert (await _the_session(db)).revoked_at is not None
    assert await _me(http, again["accessToken"]) is None
    after = (await _post(http, REFRESH, {"t": again["refreshToken"]}))["refreshSession"]
    assert after["errors"][0]["code"] == "INVALID_TOKEN"


async def test_concurrent_refreshes_against_the_real_server(services, settings, db, tmp_path):
    """The same race through uvicorn (real sockets, real time, the default grace): a rotated
    token presented after the grace revokes the session."""
    await make_user(services, "erin")
    server = start_server(server_env(settings), tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            access, first = await _sign_in(http, "erin")
            tokens = await _race_rounds(http, db, first)
            assert await _me(http, access) is None  # the first access token was rotated away
            # past the grace (a wait, not a timed assertion)
            time.sleep(settings.refresh_reuse_grace_seconds + 0.5)
            replay = (await _post(http, REFRESH, {"t": tokens[0]}))["refreshSession"]
            assert replay["errors"][0]["code"] == "INVALID_TOKEN"
            assert (await _the_session(db)).revoked_at is not None
            final = (await _post(http, REFRESH, {"t": tokens[-1]}))["refreshSession"]
            assert final["errors"][0]["code"] == "INVALID_TOKEN"
    finally:
        stop_server(server)
