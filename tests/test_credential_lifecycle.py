"""Credential lifecycle (issue 11, point 2): a password reset, an administrator's
setUserPassword or revokeUserSessions, and a deactivation end API tokens as well as sessions,
for good; admins list and revoke another user's API tokens without seeing a secret.

Each path is checked through the API (the old credentials answer UNAUTHENTICATED) and in the
database (``revoked_at`` is set), and each refusal or bad input to have changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update
from strawberry import relay

from stridegraph.db.enums import TokenPurpose
from stridegraph.db.models import ApiToken, Session, User
from stridegraph.domain import one_time_tokens, sessions
from stridegraph.domain.unit import open_unit
from tests.helpers import PASSWORD, login_token, make_user, scoped_token

ADMIN_PASSWORD = "admin password long 1A!"
ME = "{ me { username } }"
LIST = """query($id: ID!) { userApiTokens(id: $id) {
  id name prefix scopes createdAt expiresAt lastUsedAt } }"""
MY_TOKENS = "{ myApiTokens { id name prefix scopes createdAt expiresAt lastUsedAt } }"
REVOKE_TOKENS = """mutation($id: ID!) { revokeUserApiTokens(id: $id) {
  revokedCount errors { field code } } }"""
REVOKE_SESSIONS = """mutation($id: ID!) { revokeUserSessions(id: $id) {
  revokedCount revokedApiTokenCount errors { field code } } }"""
SET_PASSWORD = """mutation($id: ID!) { setUserPassword(id: $id, password: "a fresh password 7") {
  user { username } errors { field code } } }"""
UPDATE = """mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) {
  user { active } errors { field code } } }"""
RESET = """mutation($t: String!) { resetPassword(token: $t, newPassword: "a fresh password 7") {
  errors { field code } } }"""
CHANGE = """mutation($revoke: Boolean!) { changePassword(currentPassword: "%s",
  newPassword: "a fresh password 7", revokeApiTokens: $revoke) { errors { field code } } }"""
REFRESH = """mutation($t: String!) { refreshSession(refreshToken: $t) {
  accessToken errors { code } } }"""
MISSING = relay.to_base64("User", 987654)
MALFORMED = ("nope", relay.to_base64("Session", 1), relay.to_base64("User", "x"))


@dataclass
class Held:
    """Everything a user can sign in with: a session (access and refresh) and a script."""

    user: Any
    access: str
    refresh: str
    api_token: str

    @property
    def gid(self) -> str:
        return relay.to_base64("User", self.user.id)


async def holding(services: Any, name: str) -> Held:
    user = await make_user(services, name)
    async with open_unit(services) as unit:
        issued = await unit.transaction(sessions.create_session, user=user)
    script = await scoped_token(services, user, ["profile:read", "profile:write"])
    return Held(user, issued.access_token, issued.refresh_token, script)


async def admin_token(services: Any) -> str:
    admin = await make_user(services, "root", admin=True, password=ADMIN_PASSWORD)
    return await login_token(services, admin)


async def works(gql: Any, token: str) -> bool:
    body = await gql.execute(ME, token=token)
    if body.get("errors"):
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        return False
    return True


async def refreshes(gql: Any, refresh_token: str) -> bool:
    payload = (await gql.data(REFRESH, {"t": refresh_token}))["refreshSession"]
    return payload["errors"] == []


async def credentials(db: Any, user_id: int) -> dict[str, list[tuple[int, bool]]]:
    """(id, revoked) of every session and API token of a user, read from the database."""
    async with db.engine.connect() as conn:
        found = {}
        for name, model in (("sessions", Session), ("api_tokens", ApiToken)):
            rows = await conn.execute(
                select(model.id, model.revoked_at)
                .where(model.user_id == user_id)
                .order_by(model.id)
            )
            found[name] = [(row_id, revoked is not None) for row_id, revoked in rows]
    return found


async def all_credentials(db: Any) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        sessions_ = (await conn.execute(select(Session.id, Session.revoked_at))).all()
        tokens = (await conn.execute(select(ApiToken.id, ApiToken.revoked_at))).all()
    return sorted(map(tuple, sessions_)) + sorted(map(tuple, tokens))


def all_revoked(found: dict[str, list[tuple[int, bool]]]) -> bool:
    rows = found["sessions"] + found["api_tokens"]
    return bool(rows) and all(revoked for _, revoked in rows)


async def dead(gql: Any, held: Held) -> bool:
    return not (
        await works(gql, held.access)
        or await works(gql, held.api_token)
        or await refreshes(gql, held.refresh)
    )


# --------------------------------------------------------------------------- the three paths


async def test_a_password_reset_ends_api_tokens_too(gql, services, db):
    held = await holding(services, "ann")
    async with open_unit(services) as unit:
        link = await unit.transaction(
            one_time_tokens.create,
            user_id=held.user.id,
            purpose=TokenPurpose.PASSWORD_RESET,
            address=held.user.email,
        )
    before = await all_credentials(db)
    refused = (await gql.data(RESET, {"t": "sgo_not_a_link"}))["resetPassword"]
    assert refused["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]
    assert await all_credentials(db) == before
    assert (await gql.data(RESET, {"t": link}))["resetPassword"]["errors"] == []
    assert all_revoked(await credentials(db, held.user.id))
    assert await dead(gql, held)


async def test_set_user_password_ends_api_tokens_too(gql, services, db):
    held = await holding(services, "ann")
    admin = await admin_token(services)
    before = await all_credentials(db)
    for bad in (MISSING, *MALFORMED):
        payload = (await gql.data(SET_PASSWORD, {"id": bad}, token=admin))["setUserPassword"]
        assert payload["errors"][0]["field"] == "id" and payload["errors"][0]["code"] in (
            "NOT_FOUND",
            "INVALID",
        )
    assert await all_credentials(db) == before
    payload = (await gql.data(SET_PASSWORD, {"id": held.gid}, token=admin))["setUserPassword"]
    assert payload == {"user": {"username": "ann"}, "errors": []}
    assert all_revoked(await credentials(db, held.user.id))
    assert await dead(gql, held)
    assert await works(gql, admin)


async def test_revoke_user_sessions_ends_api_tokens_too(gql, services, db):
    held = await holding(services, "ann")
    admin = await admin_token(services)
    before = await all_credentials(db)
    for bad in (MISSING, *MALFORMED):
        payload = (await gql.data(REVOKE_SESSIONS, {"id": bad}, token=admin))["revokeUserSessions"]
        code = "NOT_FOUND" if bad == MISSING else "INVALID"  # the one decode_id rule
        assert payload["errors"] == [{"field": "id", "code": code}]
    assert await all_credentials(db) == before
    payload = (await gql.data(REVOKE_SESSIONS, {"id": held.gid}, token=admin))["revokeUserSessions"]
    assert payload == {"revokedCount": 1, "revokedApiTokenCount": 1, "errors": []}
    assert all_revoked(await credentials(db, held.user.id))
    assert await dead(gql, held)
    assert await works(gql, admin)


# --------------------------------------------------------------------------- changePassword


@pytest.mark.parametrize("revoke", [False, True])
async def test_change_password_ends_api_tokens_only_when_asked(revoke, gql, services, db):
    held = await holding(services, "ann")
    other_session = await login_token(services, held.user)
    payload = (await gql.data(CHANGE % PASSWORD, {"revoke": revoke}, token=held.access))[
        "changePassword"
    ]
    assert payload["errors"] == []
    assert await works(gql, held.access)  # the session making the change stays
    assert not await works(gql, other_session)
    assert await works(gql, held.api_token) is not revoke
    found = await credentials(db, held.user.id)
    assert [revoked for _, revoked in found["api_tokens"]] == [revoke]


# --------------------------------------------------------------------------- admin listing


async def test_an_admin_lists_a_users_tokens_without_secrets(gql, services, db):
    held = await holding(services, "ann")
    admin = await admin_token(services)
    other = await holding(services, "bob")
    revoked = await scoped_token(services, held.user, ["profile:read"])
    revoked_id = (await credentials(db, held.user.id))["api_tokens"][-1][0]
    async with db.engine.begin() as conn:  # revoked ones are not listed
        await conn.execute(
            update(ApiToken).where(ApiToken.id == revoked_id).values(revoked_at=ApiToken.created_at)
        )
    listed = (await gql.data(LIST, {"id": held.gid}, token=admin))["userApiTokens"]
    own_view = (await gql.data(MY_TOKENS, token=held.access))["myApiTokens"]
    assert listed == own_view and len(listed) == 1
    assert listed[0]["prefix"] == held.api_token[:12]
    assert held.api_token not in str(listed) and revoked not in str(listed)
    assert other.api_token[:12] not in str(listed)
    # an API token with users:read may list too (a read); a missing user has none
    reader = await scoped_token(
        services, (await make_user(services, "ops", admin=True)), ["users:read"]
    )
    assert (await gql.data(LIST, {"id": held.gid}, token=reader))["userApiTokens"] == listed
    assert (await gql.data(LIST, {"id": MISSING}, token=admin))["userApiTokens"] == []
    for bad in MALFORMED:
        body = await gql.execute(LIST, {"id": bad}, token=admin)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", bad


async def test_only_admins_list_and_revoke_tokens(gql, services, db):
    held = await holding(services, "ann")
    mallory = await holding(services, "mallory")
    before = await all_credentials(db)
    for token in (mallory.access, mallory.api_token, held.access):
        listed = await gql.execute(LIST, {"id": held.gid}, token=token)
        assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        revoked = await gql.execute(REVOKE_TOKENS, {"id": held.gid}, token=token)
        assert revoked["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert (revoked.get("data") or {}).get("revokeUserApiTokens") is None
    anonymous = await gql.execute(REVOKE_TOKENS, {"id": held.gid})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await all_credentials(db) == before
    assert await works(gql, held.api_token)


async def test_an_admin_revokes_a_users_tokens_and_sessions_stay(gql, services, db):
    held = await holding(services, "ann")
    second = await scoped_token(services, held.user, ["profile:read"])
    bystander = await holding(services, "bob")
    admin = await admin_token(services)
    before = await all_credentials(db)
    missing = (await gql.data(REVOKE_TOKENS, {"id": MISSING}, token=admin))["revokeUserApiTokens"]
    assert missing == {"revokedCount": 0, "errors": [{"field": "id", "code": "NOT_FOUND"}]}
    for bad in MALFORMED:
        payload = (await gql.data(REVOKE_TOKENS, {"id": bad}, token=admin))["revokeUserApiTokens"]
        assert payload["errors"] == [{"field": "id", "code": "INVALID"}], bad
    assert await all_credentials(db) == before
    payload = (await gql.data(REVOKE_TOKENS, {"id": held.gid}, token=admin))["revokeUserApiTokens"]
    assert payload == {"revokedCount": 2, "errors": []}
    assert not await works(gql, held.api_token) and not await works(gql, second)
    assert await works(gql, held.access)  # sessions are not API tokens
    assert await works(gql, bystander.api_token)
    found = await credentials(db, held.user.id)
    assert [revoked for _, revoked in found["api_tokens"]] == [True, True]
    assert [revoked for _, revoked in found["sessions"]] == [False]
    again = (await gql.data(REVOKE_TOKENS, {"id": held.gid}, token=admin))["revokeUserApiTokens"]
    assert again == {"revokedCount": 0, "errors": []}


# --------------------------------------------------------------------------- deactivation


async def test_reactivation_revives_no_credential(gql, services, db):
    held = await holding(services, "ann")
    admin = await admin_token(services)
    off = await gql.data(UPDATE, {"id": held.gid, "input": {"active": False}}, token=admin)
    assert off["updateUser"] == {"user": {"active": False}, "errors": []}
    assert all_revoked(await credentials(db, held.user.id))
    on = await gql.data(UPDATE, {"id": held.gid, "input": {"active": True}}, token=admin)
    assert on["updateUser"] == {"user": {"active": True}, "errors": []}
    assert await dead(gql, held)
    assert await works(gql, await login_token(services, held.user))  # signing in again works


async def test_a_refused_deactivation_ends_nothing(gql, services, db):
    held = await holding(services, "ann")
    admin = await admin_token(services)
    before = await all_credentials(db)
    refused = await gql.data(
        UPDATE, {"id": held.gid, "input": {"active": False, "height": 999}}, token=admin
    )
    assert refused["updateUser"]["errors"] == [{"field": "height", "code": "OUT_OF_RANGE"}]
    missing = await gql.data(UPDATE, {"id": MISSING, "input": {"active": False}}, token=admin)
    assert missing["updateUser"]["errors"] == [{"field": "id", "code": "NOT_FOUND"}]
    assert await all_credentials(db) == before
    assert not await dead(gql, held) and await works(gql, held.api_token)


async def test_credentials_left_from_an_earlier_deactivation_stay_dead(gql, services, db):
    """An account deactivated before this rule still holds unrevoked credentials (they only
    stopped working because the lookup checks ``active``); reactivating it ends them."""
    held = await holding(services, "ann")
    admin = await admin_token(services)
    async with db.engine.begin() as conn:
        await conn.execute(update(User).where(User.id == held.user.id).values(active=False))
    assert await dead(gql, held)
    on = await gql.data(UPDATE, {"id": held.gid, "input": {"active": True}}, token=admin)
    assert on["updateUser"]["errors"] == []
    assert all_revoked(await credentials(db, held.user.id))
    assert await dead(gql, held)
