"""API token policy (issue 11, point 1): only a session mints a token, a token expires after
``API_TOKEN_TTL`` (90 days) unless told otherwise, "never" is asked for explicitly, and an
expiry that has no UTC form is INVALID, never a 500. Every refusal changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stridegraph.config import ConfigError, load_settings
from stridegraph.db.models import ApiToken
from tests.helpers import PASSWORD, login_token, make_user, scoped_token
from tests.mfa_support import Clock, install_clock

CREATE = """mutation($expiresAt: DateTime, $never: Boolean! = false, $pw: String) {
  createApiToken(name: "cli", scopes: ["profile:read"], expiresAt: $expiresAt,
                 neverExpires: $never, currentPassword: $pw) {
    token apiToken { expiresAt } errors { field code message } } }"""
ME = "{ me { username } }"
DAY = 24 * 3600


@pytest.fixture
def clock(services: Any) -> Clock:
    return install_clock(services)


async def stored(db: Any) -> list[Any]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(ApiToken).order_by(ApiToken.id))).all()
    return list(rows)


async def state(db: Any) -> list[tuple[Any, ...]]:
    """The stored tokens, except when they were last used."""
    return [
        tuple(v for k, v in r._mapping.items() if k != "last_used_at") for r in await stored(db)
    ]


async def create(gql: Any, token: str, **variables: Any) -> dict[str, Any]:
    return (await gql.data(CREATE, variables, token=token))["createApiToken"]  # type: ignore[no-any-return]


async def session_of(services: Any, name: str = "ann") -> str:
    return await login_token(services, await make_user(services, name))


async def test_an_api_token_cannot_make_another(gql, services, db, clock):
    user = await make_user(services, "ann")
    script = await scoped_token(services, user, ["profile:read", "profile:write"])
    before = await state(db)
    for variables in ({}, {"pw": PASSWORD}):  # not even with the password
        body = await gql.execute(CREATE, variables, token=script)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
        assert (body.get("data") or {}).get("createApiToken") is None
    assert await state(db) == before


async def test_the_default_expiry_is_90_days_and_it_holds(gql, services, db, clock):
    session = await session_of(services)
    payload = await create(gql, session)
    assert payload["errors"] == []
    expected = clock.now + dt.timedelta(days=90)
    assert dt.datetime.fromisoformat(payload["apiToken"]["expiresAt"]) == expected
    [row] = await stored(db)
    assert row.expires_at == expected
    clock.advance(90 * DAY - 1)
    assert (await gql.data(ME, token=payload["token"]))["me"]["username"] == "ann"
    clock.advance(1)
    body = await gql.execute(ME, token=payload["token"])
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_default_expiry_is_configurable(gql, services, db, clock):
    services.settings = services.settings.with_(api_token_ttl_seconds=3600)
    payload = await create(gql, await session_of(services))
    assert dt.datetime.fromisoformat(payload["apiToken"]["expiresAt"]) == clock.now + dt.timedelta(
        hours=1
    )


async def test_never_has_to_be_asked_for(gql, services, db, clock):
    session = await session_of(services)
    payload = await create(gql, session, never=True)
    assert payload["errors"] == [] and payload["apiToken"]["expiresAt"] is None
    [row] = await stored(db)
    assert row.expires_at is None
    clock.advance(10 * 365 * DAY)
    assert (await gql.data(ME, token=payload["token"]))["me"]["username"] == "ann"


async def test_an_expiry_and_never_together_are_invalid(gql, services, db, clock):
    session = await session_of(services)
    soon = (clock.now + dt.timedelta(days=1)).isoformat()
    payload = await create(gql, session, expiresAt=soon, never=True)
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("neverExpires", "INVALID")]
    assert payload["token"] is None
    assert await stored(db) == []


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-14:00",  # after the last representable instant in UTC
        "0001-01-01T00:00:00+14:00",  # before the first
    ],
)
async def test_an_expiry_without_a_utc_form_is_bad_input(value, gql, services, db, clock):
    session = await session_of(services)
    body = await gql.execute(CREATE, {"expiresAt": value}, token=session)
    # an argument no DateTime can hold: refused while coercing, before execution (not a 500)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert "$expiresAt" in error["message"]
    assert body["data"] is None
    assert await stored(db) == []


async def test_a_far_expiry_in_another_zone_is_stored_in_utc(gql, services, db, clock):
    session = await session_of(services)
    payload = await create(gql, session, expiresAt="9999-12-31T09:00:00-14:00")
    assert payload["errors"] == []
    expected = dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.UTC)
    assert dt.datetime.fromisoformat(payload["apiToken"]["expiresAt"]) == expected
    [row] = await stored(db)
    assert row.expires_at == expected


def test_the_settings_are_validated(tmp_path: Path) -> None:
    env = {"STRIDEGRAPH_DATA_DIR": str(tmp_path)}
    defaults = load_settings(env)
    assert defaults.api_token_ttl_seconds == 90 * DAY
    assert defaults.reauth_window_seconds == 300
    chosen = load_settings(
        {**env, "STRIDEGRAPH_API_TOKEN_TTL": "3600", "STRIDEGRAPH_REAUTH_WINDOW": "0"}
    )
    assert (chosen.api_token_ttl_seconds, chosen.reauth_window_seconds) == (3600, 0)
    for variable, value in (
        ("API_TOKEN_TTL", "soon"),
        ("API_TOKEN_TTL", "10"),
        ("API_TOKEN_TTL", str(10**12)),  # would overflow a date
        ("REAUTH_WINDOW", "-1"),
    ):
        with pytest.raises(ConfigError) as error:
            load_settings({**env, f"STRIDEGRAPH_{variable}": value})
        assert error.value.variable == f"STRIDEGRAPH_{variable}"
