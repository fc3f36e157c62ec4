"""``changePassword``: the current password is checked, the policy applies, the other
sessions end and the current one stays."""

from __future__ import annotations

from sqlalchemy import select, update

from stridegraph.db.enums import PasswordPolicy
from stridegraph.db.models import ServerSettings, Session, User
from tests.helpers import PASSWORD, login_token, make_user, scoped_token

CHANGE = """mutation($c: String!, $n: String!) { changePassword(currentPassword: $c,
  newPassword: $n) { user { username } errors { field code } } }"""
LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken errors { code } } }"""
ME = "{ me { username } }"
NEW = "a brand new password 9!"


async def change(gql, token, current, new):
    return (await gql.data(CHANGE, {"c": current, "n": new}, token=token))["changePassword"]


async def works(gql, token) -> bool:
    return not (await gql.execute(ME, token=token)).get("errors")


async def stored(db, user_id):
    async with db.engine.connect() as conn:
        user = (await conn.execute(select(User.__table__).where(User.id == user_id))).one()
        sessions = (await conn.execute(select(Session).order_by(Session.id))).all()
    return user.password_hash, [(s.id, s.revoked_at) for s in sessions]


async def login_codes(gql, username, password):
    body = await gql.data(LOGIN, {"u": username, "p": password})
    return [e["code"] for e in body["login"]["errors"]]


async def test_change_password_keeps_this_session_and_ends_the_others(gql, services, db):
    user = await make_user(services, "alice")
    current = await login_token(services, user)
    others = [await login_token(services, user) for _ in range(2)]
    bystander = await login_token(services, await make_user(services, "bob"))
    payload = await change(gql, current, PASSWORD, NEW)
    assert payload == {"user": {"username": "alice"}, "errors": []}
    assert await works(gql, current)
    for token in others:
        assert not await works(gql, token)
    assert await works(gql, bystander)
    assert await login_codes(gql, "alice", PASSWORD) == ["INVALID_CREDENTIALS"]
    assert await login_codes(gql, "alice", NEW) == []
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(User.__table__).where(User.id == user.id))).one()
    assert row.password_changed_at is not None and row.password_changed_at > user.created_at


async def test_wrong_current_password_or_weak_new_one_change_nothing(gql, services, db):
    user = await make_user(services, "carol")
    current = await login_token(services, user)
    other = await login_token(services, user)
    before = await stored(db, user.id)
    wrong = await change(gql, current, "not my password", NEW)
    assert wrong == {
        "user": None,
        "errors": [{"field": "currentPassword", "code": "INVALID_CREDENTIALS"}],
    }
    short = await change(gql, current, PASSWORD, "short")
    assert short["errors"] == [{"field": "newPassword", "code": "TOO_SHORT"}]
    same_as_name = await change(gql, current, PASSWORD, "carol@example.com")
    assert same_as_name["errors"] == [{"field": "newPassword", "code": "PASSWORD_TOO_WEAK"}]
    async with db.engine.begin() as conn:
        await conn.execute(update(ServerSettings).values(password_policy=PasswordPolicy.STRICT))
    weak = await change(gql, current, PASSWORD, "alllowercaseletters")
    assert weak["errors"] == [{"field": "newPassword", "code": "PASSWORD_TOO_WEAK"}]
    assert await stored(db, user.id) == before
    assert await works(gql, other)
    assert await login_codes(gql, "carol", PASSWORD) == []


async def test_with_an_api_token_every_session_ends(gql, services, db):
    user = await make_user(services, "dave")
    session = await login_token(services, user)
    api_token = await scoped_token(services, user, ["profile:read", "profile:write"])
    assert (await change(gql, api_token, PASSWORD, NEW))["errors"] == []
    assert not await works(gql, session)
    assert await works(gql, api_token)  # API tokens are separate credentials
