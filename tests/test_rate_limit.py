"""Login rate limits kept in the database: per account (default 5 in 15 minutes) and per
client address (8 here, to keep the test short), TOO_MANY_ATTEMPTS with the retry delay, a
success resetting the account's count, wrong current passwords in changePassword counted."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stridegraph.db.models import LoginAttempt, Session
from stridegraph.domain import login as login_domain
from stridegraph.domain import ratelimit
from stridegraph.domain.errors import DomainError, ErrorCode
from stridegraph.domain.unit import open_unit
from tests.conftest import make_settings
from tests.helpers import PASSWORD, login_token, make_user

T0 = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken errors { field code message retryAfterSeconds } } }"""
CHANGE = """mutation($c: String!, $n: String!) { changePassword(currentPassword: $c,
  newPassword: $n) { errors { field code retryAfterSeconds } } }"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def settings(db, tmp_path: Path):
    return make_settings(db.url, tmp_path / "data", login_max_failures_address=8)


@pytest.fixture
def clock(services) -> Clock:
    services.clock = Clock()
    return services.clock


async def login(gql, username, password=PASSWORD):
    return (await gql.data(LOGIN, {"u": username, "p": password}))["login"]


def codes(payload) -> list[str]:
    return [e["code"] for e in payload["errors"]]


async def attempts(db, **where) -> int:
    query = select(func.count()).select_from(LoginAttempt)
    for column, value in where.items():
        query = query.where(getattr(LoginAttempt, column) == value)
    async with db.engine.connect() as conn:
        return (await conn.execute(query)).scalar()


async def session_count(db) -> int:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(Session))).scalar()


async def test_account_limit_with_retry_delay(gql, services, db, clock):
    alice = await make_user(services, "alice")
    for _ in range(5):
        assert codes(await login(gql, "alice", "wrong")) == ["INVALID_CREDENTIALS"]
        clock.advance(10)
    refused = await login(gql, "Alice", PASSWORD)  # even the right password, any case
    assert refused["accessToken"] is None
    (error,) = refused["errors"]
    assert error["code"] == "TOO_MANY_ATTEMPTS" and error["field"] is None
    # the first failure (at T0) leaves the 15-minute window at T0 + 900 s; it is T0 + 50 s now
    assert error["retryAfterSeconds"] == 850
    assert "850 seconds" in error["message"]
    assert (
        await attempts(db, account_key=ratelimit.user_key(alice)) == 5
    )  # refusals are not counted
    assert await session_count(db) == 0
    clock.advance(849)
    assert (await login(gql, "alice"))["errors"][0]["retryAfterSeconds"] == 1
    clock.advance(1)
    assert (await login(gql, "alice"))["errors"] == []
    assert await attempts(db, account_key=ratelimit.user_key(alice)) == 0  # success resets


async def test_a_success_resets_the_account_count(gql, services, db, clock):
    await make_user(services, "bob", email="bob@example.com")
    for _ in range(3):
        await login(gql, "bob", "wrong")
    for _ in range(1):  # one count for the account, whichever identifier names it
        await login(gql, "bob@example.com", "wrong")
    assert (await login(gql, "BOB@example.com"))["errors"] == []
    # a success by e-mail clears the count of failures by username too
    assert await attempts(db) == 0
    for _ in range(4):
        assert codes(await login(gql, "bob", "wrong")) == ["INVALID_CREDENTIALS"]
    assert (await login(gql, "bob"))["errors"] == []


async def test_unknown_accounts_are_limited_alike(gql, services, db, clock):
    for _ in range(5):
        assert codes(await login(gql, "ghost", "wrong")) == ["INVALID_CREDENTIALS"]
    assert codes(await login(gql, "ghost", "wrong")) == ["TOO_MANY_ATTEMPTS"]


async def test_client_address_limit(gql, services, db, clock):
    await make_user(services, "carol")
    for i in range(8):
        assert codes(await login(gql, f"user{i}", "wrong")) == ["INVALID_CREDENTIALS"]
    refused = await login(gql, "carol")  # a fresh account, from the same address
    assert codes(refused) == ["TOO_MANY_ATTEMPTS"]
    assert refused["errors"][0]["retryAfterSeconds"] == 900
    assert await attempts(db, client_address="127.0.0.1") == 8
    # another address is not affected
    async with open_unit(services) as unit:
        result = await unit.transaction(
            login_domain.login, username="carol", password=PASSWORD, client_address="10.1.2.3"
        )
    assert result.session is not None


async def test_wrong_current_password_counts(gql, services, db, clock):
    user = await make_user(services, "dave")
    token = await login_token(services, user)
    for _ in range(5):
        body = await gql.data(CHANGE, {"c": "wrong", "n": "a new password 1A!"}, token=token)
        assert body["changePassword"]["errors"] == [
            {"field": "currentPassword", "code": "INVALID_CREDENTIALS", "retryAfterSeconds": None}
        ]
    body = await gql.data(CHANGE, {"c": PASSWORD, "n": "a new password 1A!"}, token=token)
    assert codes(body["changePassword"]) == ["TOO_MANY_ATTEMPTS"]
    assert codes(await login(gql, "dave")) == ["TOO_MANY_ATTEMPTS"]
    clock.advance(901)
    assert (await login(gql, "dave"))["errors"] == []


async def test_parallel_guesses_cannot_exceed_the_limit(gql, services, db):
    """Attempts are recorded before the password is checked, so a burst of concurrent
    requests gets no more than the limit through to a verification."""
    erin = await make_user(services, "erin")
    results = await asyncio.gather(*(login(gql, "erin", f"guess {i}") for i in range(12)))
    outcomes = [codes(r)[0] for r in results]
    assert set(outcomes) <= {"INVALID_CREDENTIALS", "TOO_MANY_ATTEMPTS"}
    assert outcomes.count("INVALID_CREDENTIALS") <= 5
    assert await attempts(db, account_key=ratelimit.user_key(erin)) == outcomes.count(
        "INVALID_CREDENTIALS"
    )


async def test_the_domain_api_for_other_factors(services, db, clock):
    """What MFA calls around a code check: reserve, then report a success (or not)."""
    user = await make_user(services, "fay")
    key = ratelimit.user_key(user)
    async with open_unit(services) as unit:
        for _ in range(5):
            await ratelimit.begin_attempt(unit, account_key=key, client_address="10.0.0.9")
        with pytest.raises(DomainError) as refused:
            await ratelimit.begin_attempt(unit, account_key=key, client_address="10.0.0.9")
        assert refused.value.problems[0].code is ErrorCode.TOO_MANY_ATTEMPTS
        assert refused.value.problems[0].retry_after_seconds == 900
        clock.advance(900)
        attempt = await ratelimit.begin_attempt(unit, account_key=key, client_address="10.0.0.9")
        await ratelimit.succeeded(unit, attempt=attempt, user=user)
    assert await attempts(db) == 0
