"""Logins under a burst from one address (issue 12 point 7): attempts still queued for a
hashing slot are not failures, so correct logins are slowed by the hashing limit, never
refused by the failure limit; wrong ones still lock out at exactly the limit, however many
race."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stridegraph.db.models import LoginAttempt, Session
from tests.conftest import make_settings
from tests.helpers import PASSWORD, make_user

LIMIT = 10
BURST = 30
LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken errors { code } } }"""


@pytest.fixture
def settings(db, tmp_path: Path):
    # One hashing slot: the whole burst queues behind it, as on a busy server.
    return make_settings(
        db.url, tmp_path / "data", login_max_failures_address=LIMIT, hash_concurrency=1
    )


async def _burst(gql, names: list[str], password: str) -> list[dict]:
    async def one(name: str) -> dict:
        return (await gql.data(LOGIN, {"u": name, "p": password}))["login"]

    return await asyncio.wait_for(asyncio.gather(*(one(n) for n in names)), 120)


async def _count(db, model) -> int:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model))).scalar()


async def test_a_burst_of_correct_logins_from_one_address_all_sign_in(services, gql, db):
    names = [f"burst{i}" for i in range(BURST)]
    for name in names:
        await make_user(services, name)
    payloads = await _burst(gql, names, PASSWORD)
    refused = [p["errors"] for p in payloads if p["errors"]]
    assert refused == [], f"{len(refused)} of {BURST} refused: {refused[:1]}"
    assert all(p["accessToken"].startswith("sga_") for p in payloads)
    assert await _count(db, Session) == BURST
    assert await _count(db, LoginAttempt) == 0  # every reservation settled as a success


async def test_racing_wrong_logins_still_stop_at_exactly_the_limit(services, gql, db):
    names = [f"wrong{i}" for i in range(BURST)]
    for name in names:
        await make_user(services, name)
    payloads = await _burst(gql, names, "not-the-password")
    codes = sorted(p["errors"][0]["code"] for p in payloads)
    assert codes.count("INVALID_CREDENTIALS") == LIMIT
    assert codes.count("TOO_MANY_ATTEMPTS") == BURST - LIMIT
    assert await _count(db, LoginAttempt) == LIMIT
    assert await _count(db, Session) == 0
    # and a correct password from that address is now refused too, without a session
    again = (await gql.data(LOGIN, {"u": names[0], "p": PASSWORD}))["login"]
    assert [e["code"] for e in again["errors"]] == ["TOO_MANY_ATTEMPTS"]
    assert await _count(db, Session) == 0
