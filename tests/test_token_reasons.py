"""UNAUTHENTICATED carries ``extensions.reason``: TOKEN_EXPIRED when only the access
token's age is wrong and the session can still be refreshed (or an API token is past its
expiry), TOKEN_INVALID for anything else, so a client can tell "refresh now" from "sign in
again". Both databases."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from stridegraph.db.models import ApiToken, Session, User
from stridegraph.domain.scopes import PROFILE_READ
from tests.helpers import login_token, make_user, scoped_token

ME = "{ me { username } }"


def past(seconds: int = 1) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)


async def refusal(gql, token: str | None = None, headers: dict[str, str] | None = None):
    body = await gql.execute(ME, token=token, headers=headers)
    assert body["data"] in (None, {"me": None}), body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    return error["extensions"].get("reason")


async def test_an_expired_access_token_of_a_live_session_is_token_expired(gql, services, db):
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    assert (await gql.data(ME, token=token))["me"]["username"] == "alice"
    async with db.engine.begin() as conn:
        await conn.execute(update(Session).values(access_expires_at=past()))
    assert await refusal(gql, token) == "TOKEN_EXPIRED"
    async with db.engine.connect() as conn:  # asking changed nothing
        (row,) = (await conn.execute(select(Session))).all()
    assert row.revoked_at is None


async def test_revoked_unknown_and_malformed_tokens_are_token_invalid(gql, services, db):
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    async with db.engine.begin() as conn:
        await conn.execute(update(Session).values(revoked_at=past(), access_expires_at=past()))
    assert await refusal(gql, token) == "TOKEN_INVALID"
    assert await refusal(gql, "sga_" + "x" * 43) == "TOKEN_INVALID"
    assert await refusal(gql, "not-a-token") == "TOKEN_INVALID"
    assert await refusal(gql, headers={"Authorization": "Basic abc"}) == "TOKEN_INVALID"
    assert await refusal(gql, headers={"Authorization": "Bearer "}) == "TOKEN_INVALID"


async def test_a_session_past_its_refresh_expiry_is_token_invalid(gql, services, db):
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    async with db.engine.begin() as conn:
        await conn.execute(
            update(Session).values(access_expires_at=past(), refresh_expires_at=past())
        )
    assert await refusal(gql, token) == "TOKEN_INVALID"


async def test_an_expired_token_of_a_deactivated_account_is_token_invalid(gql, services, db):
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    async with db.engine.begin() as conn:
        await conn.execute(update(Session).values(access_expires_at=past()))
        await conn.execute(update(User).values(active=False))
    assert await refusal(gql, token) == "TOKEN_INVALID"


async def test_api_tokens_expired_and_revoked(gql, services, db):
    alice = await make_user(services, "alice")
    token = await scoped_token(services, alice, [PROFILE_READ])
    assert (await gql.data(ME, token=token))["me"]["username"] == "alice"
    async with db.engine.begin() as conn:
        await conn.execute(update(ApiToken).values(expires_at=past()))
    assert await refusal(gql, token) == "TOKEN_EXPIRED"
    async with db.engine.begin() as conn:
        await conn.execute(update(ApiToken).values(revoked_at=past()))
    assert await refusal(gql, token) == "TOKEN_INVALID"


async def test_anonymous_needing_a_viewer_has_no_token_reason(gql, services, db):
    assert await refusal(gql) is None


async def test_a_mutation_with_an_expired_token_says_token_expired(gql, services, db):
    """The reason reaches mutations as well as queries."""
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    async with db.engine.begin() as conn:
        await conn.execute(update(Session).values(access_expires_at=past()))
    body = await gql.execute("mutation { logout { errors { code } } }", token=token)
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "TOKEN_EXPIRED"}
