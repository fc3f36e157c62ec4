"""Sessions: refresh rotation and replay detection, logout, mySessions, revokeSession,
revokeUserSessions, last-used time. Every refusal is checked to have changed nothing."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select, update
from strawberry import relay

from stridegraph.db.models import RotatedRefreshToken, Session, User
from tests.helpers import PASSWORD, login_token, make_user, scoped_token

LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken refreshToken errors { code } } }"""
REFRESH = """mutation($t: String!) { refreshSession(refreshToken: $t) {
  accessToken refreshToken expiresAt refreshExpiresAt errors { field code } } }"""
LOGOUT = "mutation { logout { errors { code message } } }"
MY_SESSIONS = """{ mySessions { id createdAt lastUsedAt userAgent clientAddress expiresAt
  current } }"""
REVOKE = """mutation($id: ID!) { revokeSession(id: $id) { session { id current }
  errors { field code } } }"""
REVOKE_USER = """mutation($id: ID!) { revokeUserSessions(id: $id) { revokedCount
  revokedApiTokenCount errors { field code } } }"""
ME = "{ me { username } }"


async def sign_in(gql, username, agent="agent"):
    body = await gql.data(LOGIN, {"u": username, "p": PASSWORD}, headers={"User-Agent": agent})
    assert body["login"]["errors"] == []
    return body["login"]["accessToken"], body["login"]["refreshToken"]


async def refresh(gql, token):
    return (await gql.data(REFRESH, {"t": token}))["refreshSession"]


async def works(gql, token) -> bool:
    body = await gql.execute(ME, token=token)
    if body.get("errors"):
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        return False
    return True


async def sessions(db):
    async with db.engine.connect() as conn:
        return (await conn.execute(select(Session).order_by(Session.id))).all()


async def test_refresh_rotates_and_the_old_tokens_stop_working(gql, services, db):
    await make_user(services, "alice")
    access, refresh_token = await sign_in(gql, "alice")
    before = (await sessions(db))[0]
    rotated = await refresh(gql, refresh_token)
    assert rotated["errors"] == []
    assert rotated["accessToken"].startswith("sga_") and rotated["accessToken"] != access
    assert rotated["refreshToken"].startswith("sgr_") and rotated["refreshToken"] != refresh_token
    assert await works(gql, rotated["accessToken"])
    assert not await works(gql, access)
    after = (await sessions(db))[0]
    assert after.id == before.id and after.generation == before.generation + 1
    assert after.revoked_at is None
    # the new refresh token rotates again
    again = await refresh(gql, rotated["refreshToken"])
    assert again["errors"] == [] and await works(gql, again["accessToken"])


async def test_replaying_a_rotated_refresh_token_revokes_the_session(gql, services, db):
    await make_user(services, "bob")
    _, stolen = await sign_in(gql, "bob")
    await sign_in(gql, "bob", agent="other device")
    legit = await refresh(gql, stolen)
    later = dt.timedelta(seconds=services.settings.refresh_reuse_grace_seconds + 1)
    services.clock = lambda: dt.datetime.now(dt.UTC) + later  # past the reuse grace
    replay = await refresh(gql, stolen)
    assert replay["errors"] == [{"field": "refreshToken", "code": "INVALID_TOKEN"}]
    assert replay["accessToken"] is None
    first, second = await sessions(db)
    assert first.revoked_at is not None  # the whole family is gone...
    assert second.revoked_at is None  # ...but not the user's other sessions
    assert not await works(gql, legit["accessToken"])
    assert (await refresh(gql, legit["refreshToken"]))["errors"][0]["code"] == "INVALID_TOKEN"
    async with db.engine.connect() as conn:
        assert len((await conn.execute(select(RotatedRefreshToken))).all()) == 1


async def test_bad_refresh_tokens_change_nothing(gql, services, db):
    user = await make_user(services, "carol")
    access, refresh_token = await sign_in(gql, "carol")
    api_token = await scoped_token(services, user, ["profile:read"])
    before = await sessions(db)
    for bad in (
        access,  # an access token is not a refresh token
        api_token,
        "sgr_" + "A" * 43,  # well-formed, unknown
        refresh_token + "x",
        "",
        "garbage",
    ):
        payload = await refresh(gql, bad)
        assert payload["errors"] == [{"field": "refreshToken", "code": "INVALID_TOKEN"}], bad
    assert await sessions(db) == before
    # and a refresh token is not an access token
    body = await gql.execute(ME, token=refresh_token)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await works(gql, access)


async def test_expired_or_revoked_refresh_token_is_refused(gql, services, db):
    user = await make_user(services, "dave")
    _, expired = await sign_in(gql, "dave")
    _, revoked = await sign_in(gql, "dave")
    async with db.engine.begin() as conn:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        ids = [r.id for r in await sessions(db)]
        await conn.execute(
            update(Session).where(Session.id == ids[0]).values(refresh_expires_at=past)
        )
        await conn.execute(update(Session).where(Session.id == ids[1]).values(revoked_at=past))
    before = await sessions(db)
    for token in (expired, revoked):
        assert (await refresh(gql, token))["errors"][0]["code"] == "INVALID_TOKEN"
    assert await sessions(db) == before
    # a deactivated user cannot refresh either
    _, live = await sign_in(gql, "dave")
    async with db.engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user.id).values(active=False))
    assert (await refresh(gql, live))["errors"][0]["code"] == "INVALID_TOKEN"


async def test_concurrent_refreshes_with_one_token_let_exactly_one_through(gql, services, db):
    await make_user(services, "erin")
    _, refresh_token = await sign_in(gql, "erin")
    results = await asyncio.gather(*(refresh(gql, refresh_token) for _ in range(4)))
    winners = [r for r in results if not r["errors"]]
    assert len(winners) == 1
    assert all(r["errors"][0]["code"] == "INVALID_TOKEN" for r in results if r["errors"])
    # rotated exactly once, and no loser was taken for a replay (tests/test_refresh_race.py)
    (row,) = await sessions(db)
    assert row.generation == 1 and row.revoked_at is None


async def test_logout_ends_only_the_current_session(gql, services, db):
    await make_user(services, "frank")
    phone, phone_refresh = await sign_in(gql, "frank", agent="phone")
    laptop, _ = await sign_in(gql, "frank", agent="laptop")
    assert (await gql.data(LOGOUT, token=phone))["logout"]["errors"] == []
    assert not await works(gql, phone)
    assert (await refresh(gql, phone_refresh))["errors"][0]["code"] == "INVALID_TOKEN"
    assert await works(gql, laptop)
    body = await gql.execute(LOGOUT, token=phone)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_logout_with_an_api_token_is_refused(gql, services, db):
    user = await make_user(services, "gina")
    session_token = await login_token(services, user)
    api_token = await scoped_token(services, user, ["profile:read", "profile:write"])
    before = await sessions(db)
    payload = (await gql.data(LOGOUT, token=api_token))["logout"]
    assert [e["code"] for e in payload["errors"]] == ["INVALID"]
    assert "revokeApiToken" in payload["errors"][0]["message"]
    assert await sessions(db) == before
    assert await works(gql, api_token) and await works(gql, session_token)


async def test_my_sessions_lists_own_live_sessions(gql, services, db):
    await make_user(services, "hank")
    other = await make_user(services, "ivy")
    await login_token(services, other)
    current, _ = await sign_in(gql, "hank", agent="Firefox")
    await sign_in(gql, "hank", agent="Phone")
    gone, _ = await sign_in(gql, "hank", agent="Gone")
    await gql.data(LOGOUT, token=gone)
    listed = (await gql.data(MY_SESSIONS, token=current))["mySessions"]
    assert sorted(s["userAgent"] for s in listed) == ["Firefox", "Phone"]
    mine = {s["userAgent"]: s for s in listed}
    assert mine["Firefox"]["current"] is True and mine["Phone"]["current"] is False
    assert mine["Firefox"]["clientAddress"] == "127.0.0.1"
    kind, raw = relay.from_base64(mine["Phone"]["id"])
    assert kind == "Session" and raw.isdigit()
    assert dt.datetime.fromisoformat(mine["Phone"]["expiresAt"]) > dt.datetime.now(
        dt.UTC
    ) + dt.timedelta(days=29)


async def test_revoke_session(gql, services, db):
    user = await make_user(services, "jack")
    other = await make_user(services, "kate")
    current, _ = await sign_in(gql, "jack", agent="desk")
    phone, _ = await sign_in(gql, "jack", agent="phone")
    await login_token(services, other)
    ids = {r.user_agent or f"other{r.user_id}": r.id for r in await sessions(db)}
    phone_id = relay.to_base64("Session", ids["phone"])
    others_id = relay.to_base64("Session", ids[f"other{other.id}"])
    before = await sessions(db)
    for bad, code in (
        (others_id, "NOT_FOUND"),
        (relay.to_base64("Session", 9999), "NOT_FOUND"),
        (relay.to_base64("User", ids["phone"]), "INVALID"),  # malformed: decode_id
        ("???", "INVALID"),
    ):
        payload = (await gql.data(REVOKE, {"id": bad}, token=current))["revokeSession"]
        assert payload["errors"] == [{"field": "id", "code": code}], bad
    assert await sessions(db) == before
    payload = (await gql.data(REVOKE, {"id": phone_id}, token=current))["revokeSession"]
    assert payload == {"session": {"id": phone_id, "current": False}, "errors": []}
    assert not await works(gql, phone)
    assert await works(gql, current)
    again = (await gql.data(REVOKE, {"id": phone_id}, token=current))["revokeSession"]
    assert again["errors"][0]["code"] == "NOT_FOUND"
    assert user.id != other.id


async def test_admin_revokes_every_session_of_a_user(gql, services, db):
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    user = await make_user(services, "lena")
    admin_token = await login_token(services, admin)
    tokens = [await login_token(services, user) for _ in range(3)]
    api_token = await scoped_token(services, user, ["profile:read"])
    before = await sessions(db)
    missing = relay.to_base64("User", 9999)
    for bad, code in (
        (missing, "NOT_FOUND"),
        (relay.to_base64("Session", user.id), "INVALID"),  # malformed: decode_id
        ("nope", "INVALID"),
    ):
        payload = await gql.data(REVOKE_USER, {"id": bad}, token=admin_token)
        assert payload["revokeUserSessions"]["errors"] == [{"field": "id", "code": code}]
    assert await sessions(db) == before
    payload = await gql.data(
        REVOKE_USER, {"id": relay.to_base64("User", user.id)}, token=admin_token
    )
    assert payload["revokeUserSessions"] == {
        "revokedCount": 3,
        "revokedApiTokenCount": 1,
        "errors": [],
    }
    for token in tokens:
        assert not await works(gql, token)
    assert await works(gql, admin_token)
    assert not await works(gql, api_token)  # "everywhere" includes scripts


async def test_last_used_is_written_at_most_once_a_minute(gql, services, db, sql_counter):
    user = await make_user(services, "mona")
    token = await login_token(services, user)
    sql_counter.reset()
    await gql.data(ME, token=token)
    assert sql_counter.count == 1, sql_counter.statements  # fresh: no write
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    async with db.engine.begin() as conn:
        await conn.execute(update(Session).values(last_used_at=old))
    sql_counter.reset()
    await gql.data(ME, token=token)
    assert sql_counter.count == 1, sql_counter.statements  # the lookup; the use is noted
    await gql.data(ME, token=token)  # noted again before the flush: still one write
    sql_counter.reset()
    await services.usage.flush(services.sessions)  # out of band (domain/usage.py)
    assert sql_counter.count == 1, sql_counter.statements  # one UPDATE
    touched = (await sessions(db))[0].last_used_at
    assert touched > old + dt.timedelta(minutes=4)
    sql_counter.reset()
    await gql.data(ME, token=token)
    await services.usage.flush(services.sessions)
    assert sql_counter.count == 1  # fresh: nothing noted, nothing written
    assert (await sessions(db))[0].last_used_at == touched


async def test_refresh_ignores_an_expired_access_token_in_the_header(gql, services, db):
    """Clients attach the header to every request; the one that refreshes an expired access
    token must still work. Anything else in the same operation keeps the strict rule."""
    await make_user(services, "heidi")
    access, refresh_token = await sign_in(gql, "heidi")
    async with db.engine.begin() as conn:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await conn.execute(update(Session).values(access_expires_at=past))
    assert not await works(gql, access)
    body = await gql.execute(REFRESH, {"t": refresh_token}, token=access)
    assert not body.get("errors"), body
    assert body["data"]["refreshSession"]["accessToken"].startswith("sga_")
    mixed = """mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken }
      logout { errors { code } } }"""
    refused = await gql.execute(
        mixed, {"t": body["data"]["refreshSession"]["refreshToken"]}, token=access
    )
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    rows = await sessions(db)
    assert len(rows) == 1 and rows[0].revoked_at is None
