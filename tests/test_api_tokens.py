"""Personal API tokens: created once with a recognisable prefix, stored hashed, scoped within
the owner's role and the creating credential, optionally expiring, listed without the
secret, revocable, last use recorded."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from strawberry import relay

from stridegraph.db.models import ApiToken
from stridegraph.domain import tokens
from tests.helpers import login_token, make_user, scoped_token

CREATE = """mutation($name: String!, $scopes: [String!]!, $expiresAt: DateTime) {
  createApiToken(name: $name, scopes: $scopes, expiresAt: $expiresAt) {
    token apiToken { id name prefix scopes createdAt expiresAt lastUsedAt }
    errors { field code }
  } }"""
LIST = "{ myApiTokens { id name prefix scopes createdAt expiresAt lastUsedAt } }"
REVOKE = """mutation($id: ID!) { revokeApiToken(id: $id) { apiToken { id name }
  errors { field code } } }"""
ME = "{ me { username } }"


async def create(gql, token, name="script", scopes=("profile:read",), expires_at=None):
    variables = {"name": name, "scopes": list(scopes), "expiresAt": expires_at}
    return (await gql.data(CREATE, variables, token=token))["createApiToken"]


async def rows(db):
    async with db.engine.connect() as conn:
        return (await conn.execute(select(ApiToken).order_by(ApiToken.id))).all()


async def state(db):
    """Everything about the stored tokens except when they were last used."""
    return [tuple(r._mapping[c] for c in r._mapping if c != "last_used_at") for r in await rows(db)]


async def test_create_shows_the_secret_once_and_stores_a_digest(gql, services, db):
    user = await make_user(services, "alice")
    session = await login_token(services, user)
    payload = await create(
        gql, session, name="backup script", scopes=["profile:write", "profile:read"]
    )
    assert payload["errors"] == []
    secret = payload["token"]
    assert secret.startswith("sgp_") and len(secret) == 4 + 43
    listed_token = payload["apiToken"]
    assert listed_token["name"] == "backup script"
    assert listed_token["prefix"] == secret[:12]
    assert listed_token["scopes"] == ["profile:read", "profile:write"]
    assert listed_token["lastUsedAt"] is None
    expires = dt.datetime.fromisoformat(listed_token["expiresAt"])  # the 90-day default
    assert abs(expires - dt.datetime.now(dt.UTC) - dt.timedelta(days=90)) < dt.timedelta(hours=1)
    (row,) = await rows(db)
    assert row.token_hash == tokens.digest(services.settings.secret_key, secret)
    assert secret not in repr(tuple(row))
    listed = (await gql.data(LIST, token=session))["myApiTokens"]
    assert listed == [listed_token]
    assert secret not in str(listed)
    # the token works, with exactly its scopes
    assert (await gql.data(ME, token=secret)) == {"me": {"username": "alice"}}


async def test_scopes_never_exceed_the_role_or_the_credential(gql, services, db):
    user = await make_user(services, "bob")
    session = await login_token(services, user)
    script = await scoped_token(services, user, ["profile:read", "profile:write"])
    before = await state(db)
    cases = [
        (session, ["users:write"], "SCOPE_NOT_ALLOWED"),  # not for a regular user
        (session, ["profile:read", "admin:everything"], "INVALID"),
        (session, [], "REQUIRED"),
    ]
    for credential, scopes, code in cases:
        payload = await create(gql, credential, scopes=scopes)
        assert payload["errors"] == [{"field": "scopes", "code": code}], scopes
        assert payload["token"] is None
    blank = await create(gql, session, name="  ")
    assert blank["errors"] == [{"field": "name", "code": "REQUIRED"}]
    long = await create(gql, session, name="x" * 101)
    assert long["errors"] == [{"field": "name", "code": "TOO_LONG"}]
    past = await create(gql, session, expires_at="2001-01-01T00:00:00+00:00")
    assert past["errors"] == [{"field": "expiresAt", "code": "OUT_OF_RANGE"}]
    # an API token cannot mint another token, whatever it asks for
    body = await gql.execute(CREATE, {"name": "x", "scopes": ["profile:read"]}, token=script)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (body.get("data") or {}).get("createApiToken") is None
    assert await state(db) == before
    # an admin may grant admin scopes
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    granted = await create(gql, await login_token(services, admin), scopes=["users:write"])
    assert granted["errors"] == [] and granted["apiToken"]["scopes"] == ["users:write"]


async def test_a_token_only_has_its_scopes(gql, services):
    user = await make_user(services, "carol")
    session = await login_token(services, user)
    secret = (await create(gql, session, scopes=["profile:read"]))["token"]
    assert (await gql.data(ME, token=secret))["me"]["username"] == "carol"
    body = await gql.execute(CREATE, {"name": "x", "scopes": ["profile:read"]}, token=secret)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_expiry(gql, services, db):
    user = await make_user(services, "dave")
    session = await login_token(services, user)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).replace(microsecond=0)
    payload = await create(gql, session, expires_at=soon.isoformat())
    assert dt.datetime.fromisoformat(payload["apiToken"]["expiresAt"]) == soon
    secret = payload["token"]
    assert (await gql.data(ME, token=secret))["me"]["username"] == "dave"
    async with db.engine.begin() as conn:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await conn.execute(update(ApiToken).values(expires_at=past))
    body = await gql.execute(ME, token=secret)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # a zone-less expiry is taken as UTC
    naive = await create(gql, session, expires_at="2999-01-01T00:00:00")
    assert naive["errors"] == []
    assert naive["apiToken"]["expiresAt"].startswith("2999-01-01T00:00:00+00:00")


async def test_revoke(gql, services, db):
    alice = await make_user(services, "erin")
    mallory = await make_user(services, "mallory")
    alice_session = await login_token(services, alice)
    mallory_session = await login_token(services, mallory)
    mine = await create(gql, alice_session, name="mine")
    theirs = await create(gql, mallory_session, name="theirs")
    before = await state(db)
    for bad, code in (
        (theirs["apiToken"]["id"], "NOT_FOUND"),
        (relay.to_base64("ApiToken", 999), "NOT_FOUND"),
        (relay.to_base64("Session", 1), "INVALID"),  # malformed: decode_id
        ("!!", "INVALID"),
    ):
        payload = (await gql.data(REVOKE, {"id": bad}, token=alice_session))["revokeApiToken"]
        assert payload == {"apiToken": None, "errors": [{"field": "id", "code": code}]}
    assert await state(db) == before
    assert (await gql.data(ME, token=theirs["token"]))["me"]["username"] == "mallory"
    payload = await gql.data(REVOKE, {"id": mine["apiToken"]["id"]}, token=alice_session)
    assert payload["revokeApiToken"] == {
        "apiToken": {"id": mine["apiToken"]["id"], "name": "mine"},
        "errors": [],
    }
    body = await gql.execute(ME, token=mine["token"])
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await gql.data(LIST, token=alice_session))["myApiTokens"] == []
    again = await gql.data(REVOKE, {"id": mine["apiToken"]["id"]}, token=alice_session)
    assert again["revokeApiToken"]["errors"][0]["code"] == "NOT_FOUND"


async def test_last_used_time_is_kept(gql, services, db, sql_counter):
    user = await make_user(services, "fay")
    secret = await scoped_token(services, user, ["profile:read"])
    assert (await rows(db))[0].last_used_at is None
    await gql.data(ME, token=secret)
    await services.usage.flush(services.sessions)  # written out of band (domain/usage.py)
    first = (await rows(db))[0].last_used_at
    assert first is not None
    sql_counter.reset()
    listed = (await gql.data(LIST, token=secret))["myApiTokens"]
    assert dt.datetime.fromisoformat(listed[0]["lastUsedAt"]) == first
    assert sql_counter.count == 2  # the viewer and the list: no write within the minute
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    async with db.engine.begin() as conn:
        await conn.execute(update(ApiToken).values(last_used_at=old))
    await gql.data(ME, token=secret)
    await services.usage.flush(services.sessions)
    assert (await rows(db))[0].last_used_at > old + dt.timedelta(minutes=9)
