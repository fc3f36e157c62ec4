"""Costly anonymous operations are bounded (issue 11, point 4): one costly field per
operation, refused before execution; sign-ups and reset requests limited per client address
across requests and workers (database rows); one sign-up notice per address per cooldown."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from stridegraph.db.models import LoginAttempt, OneTimeToken, User
from stridegraph.domain import ratelimit
from tests.conftest import GraphQLClient
from tests.helpers import make_user
from tests.mail_fixtures import graphql_for, mail_settings, set_server_settings

T0 = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
PASSWORD = "a sign-up password 42"
ERRORS = "errors { field code message retryAfterSeconds }"


def sign_up_field(alias: str, username: str, email: str | None = None) -> str:
    email = email or f"{username}@example.org"
    return (
        f'{alias}: signUp(input: {{username: "{username}", email: "{email}", name: "N",'
        f' password: "{PASSWORD}"}}) {{ status {ERRORS} }}'
    )


SIGN_UP = f"""mutation($u: String!, $e: String!) {{ signUp(input: {{username: $u, email: $e,
  name: "N", password: "{PASSWORD}"}}) {{ status {ERRORS} }} }}"""
RESET = f"mutation($e: String!) {{ requestPasswordReset(email: $e) {{ {ERRORS} }} }}"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def settings(settings: Any, smtp: Any) -> Any:
    return mail_settings(settings, smtp).with_(signup_max_per_address=3, reset_max_per_address=3)


@pytest.fixture
def clock(services: Any) -> Clock:
    services.clock = Clock()
    return services.clock


async def count(db: Any, model: Any) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


async def other_client(app: Any, address: str) -> tuple[httpx.AsyncClient, GraphQLClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 50001))
    http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    return http, GraphQLClient(http)


# --------------------------------------------------------------------------- one per operation


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(
            "mutation { " + " ".join(sign_up_field(f"a{i}", f"user{i}") for i in range(30)) + " }",
            id="thirty-aliases",
        ),
        pytest.param(
            "mutation { ...A ...B } fragment A on Mutation { "
            + sign_up_field("x", "first")
            + " } fragment B on Mutation { "
            + sign_up_field("y", "second")
            + " }",
            id="fragments",
        ),
        pytest.param(
            "mutation { ... on Mutation { "
            + sign_up_field("x", "first")
            + ' } login(username: "first", password: "p") { accessToken } }',
            id="inline-fragment-and-login",
        ),
        pytest.param(
            'mutation { requestPasswordReset(email: "a@example.org") { errors { code } }'
            ' resendVerificationEmail(email: "a@example.org") { errors { code } } }',
            id="reset-and-resend",
        ),
        pytest.param(
            'mutation { completeMfaLogin(mfaToken: "sgm_x", code: "123456") { accessToken }'
            ' again: completeMfaLogin(mfaToken: "sgm_y", code: "123456") { accessToken } }',
            id="two-mfa-completions",
        ),
    ],
)
async def test_more_than_one_costly_field_is_refused_before_execution(
    gql, db, smtp, services, query
):
    await set_server_settings(db, signup_enabled=True)
    await make_user(services, "first", email="a@example.org")
    body = await gql.execute(query)
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "at most one of signUp, login, completeMfaLogin" in error["message"]
    assert "send each as its own request" in error["message"]
    await services.mailer.drain()
    assert smtp.messages == []
    assert await count(db, User) == 1
    assert await count(db, OneTimeToken) == 0
    assert await count(db, LoginAttempt) == 0


async def test_one_costly_field_with_cheap_ones_is_fine(gql, db, smtp):
    await set_server_settings(db, signup_enabled=True)
    body = await gql.data("mutation { " + sign_up_field("only", "solo") + " } ")
    assert body["only"]["errors"] == []
    both = await gql.data(
        "query { serverSettings { signupEnabled } a: serverSettings { mailEnabled } }"
    )
    assert both["serverSettings"] == {"signupEnabled": True}


# --------------------------------------------------------------------------- per address


async def test_sign_ups_are_limited_per_client_address(gql, app, db, smtp, services, clock):
    await set_server_settings(db, signup_enabled=True)
    await make_user(services, "owner", email="owner@example.org")
    for i in range(3):
        answer = await gql.data(SIGN_UP, {"u": f"probe{i}", "e": f"probe{i}@example.org"})
        assert answer["signUp"]["errors"] == []
    users = await count(db, User)
    refusals = [
        (await gql.data(SIGN_UP, {"u": f"late{i}", "e": email}))["signUp"]
        for i, email in enumerate(("late@example.org", "owner@example.org", "x@example.org"))
    ]
    expected = {
        "status": None,
        "errors": [
            {
                "field": None,
                "code": "TOO_MANY_ATTEMPTS",
                "message": "Too many requests from your address. Try again in 3600 seconds.",
                "retryAfterSeconds": 3600,
            }
        ],
    }
    assert refusals == [expected] * 3  # the same for a fresh and a taken address
    assert await count(db, User) == users
    # another client address is not affected, and the window passes
    http, elsewhere = await other_client(app, "10.9.8.7")
    async with http:
        fine = await elsewhere.data(SIGN_UP, {"u": "neighbour", "e": "n@example.org"})
    assert fine["signUp"]["errors"] == []
    clock.now += dt.timedelta(seconds=3601)
    again = await gql.data(SIGN_UP, {"u": "later", "e": "later@example.org"})
    assert again["signUp"]["errors"] == []


async def test_reset_requests_are_limited_per_client_address(gql, db, smtp, services, clock):
    await make_user(services, "ann", email="ann@example.org")
    for address in ("ann@example.org", "nobody@example.org", "ann@example.org"):
        assert (await gql.data(RESET, {"e": address}))["requestPasswordReset"]["errors"] == []
    clock.now += dt.timedelta(seconds=100)
    refusals = [
        (await gql.data(RESET, {"e": address}))["requestPasswordReset"]["errors"]
        for address in ("ann@example.org", "nobody@example.org")
    ]
    assert refusals[0] == refusals[1]
    assert [(e["code"], e["retryAfterSeconds"]) for e in refusals[0]] == [
        ("TOO_MANY_ATTEMPTS", 3500)
    ]
    await services.mailer.drain()
    assert len(smtp.to("ann@example.org")) == 1  # the first; the third was in the cooldown


async def test_sign_up_rows_never_count_toward_the_login_limit(gql, db, smtp, services):
    await set_server_settings(db, signup_enabled=True)
    for i in range(3):
        await gql.data(SIGN_UP, {"u": f"probe{i}", "e": f"probe{i}@example.org"})
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(select(LoginAttempt.account_key, LoginAttempt.client_address))
        ).all()
    assert {tuple(r) for r in rows} == {("!signup:127.0.0.1", ratelimit.NO_ADDRESS)}


# --------------------------------------------------------------------------- notice cooldown


async def test_six_sign_ups_with_a_victims_address_mail_the_victim_once(
    gql, settings, db, smtp, services, clock
):
    await set_server_settings(db, signup_enabled=True)
    await make_user(services, "victim", email="victim@example.org")
    limit_free = settings.with_(signup_max_per_address=100)
    async with graphql_for(limit_free, db) as (client, built):
        built.clock = clock
        for i in range(3):
            answer = await client.data(SIGN_UP, {"u": f"spam{i}", "e": "Victim@Example.org"})
            assert answer["signUp"]["errors"] == []
        answers = await asyncio.gather(
            *(client.data(SIGN_UP, {"u": f"burst{i}", "e": "victim@example.org"}) for i in range(3))
        )
        assert all(a["signUp"]["errors"] == [] for a in answers)
        await built.mailer.drain()
        assert len(smtp.to("victim@example.org")) == 1
        clock.now += dt.timedelta(minutes=15, seconds=1)
        await client.data(SIGN_UP, {"u": "later", "e": "victim@example.org"})
        await built.mailer.drain()
    notices = smtp.to("victim@example.org")
    assert len(notices) == 2
    assert all(m["Subject"].startswith("Sign-up attempt with your e-mail") for m in notices)
