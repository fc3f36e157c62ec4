"""``updateServerSettings``: admins change the server-wide settings; refusals change nothing,
and the new values take effect (public profiles, password policy)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stridegraph.db.models import ServerSettings
from tests.helpers import login_token, make_user
from tests.users_support import gid, snapshot

UPDATE = """
mutation($input: ServerSettingsInput!) {
  updateServerSettings(input: $input) {
    serverSettings {
      signupEnabled signupRequireEmailVerification signupRequireAdminApproval publicProfiles
      passwordPolicy passwordMinLengthRegular passwordMinLengthAdmin mailEnabled
    }
    errors { field code }
  }
}
"""


async def stored(db):
    async with db.engine.connect() as conn:
        return dict((await conn.execute(select(ServerSettings.__table__))).one()._mapping)


async def admin_token(services):
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    return await login_token(services, admin)


async def test_update_server_settings(gql, services, db):
    token = await admin_token(services)
    changes = {
        "signupEnabled": True,
        "signupRequireAdminApproval": True,
        "signupRequireEmailVerification": True,
        "publicProfiles": True,
        "passwordPolicy": "STRICT",
        "passwordMinLengthRegular": 10,
        "passwordMinLengthAdmin": 128,
    }
    body = await gql.data(UPDATE, {"input": changes}, token=token)
    assert body["updateServerSettings"]["errors"] == []
    assert body["updateServerSettings"]["serverSettings"] == {
        **changes,
        "signupRequireEmailVerification": False,  # mail is disabled here: cannot apply
        "mailEnabled": False,
    }
    row = await stored(db)
    assert row["signup_enabled"] and row["signup_require_admin_approval"] and row["public_profiles"]
    assert row["signup_require_email_verification"] is True  # stored as chosen
    assert row["password_policy"].value == "strict" and row["password_min_length_regular"] == 10
    # leaving fields out keeps them
    body = await gql.data(UPDATE, {"input": {"signupEnabled": False}}, token=token)
    assert body["updateServerSettings"]["serverSettings"]["passwordMinLengthAdmin"] == 128
    assert (await stored(db))["signup_enabled"] is False


async def test_public_profiles_take_effect_for_anonymous_readers(gql, services, db):
    token = await admin_token(services)
    other = await make_user(services, "other")
    query = "query($id: ID!) { user(id: $id) { username } }"
    assert (await gql.execute(query, {"id": gid(other)}))["errors"]
    await gql.data(UPDATE, {"input": {"publicProfiles": True}}, token=token)
    assert (await gql.data(query, {"id": gid(other)}))["user"] == {"username": "other"}


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"passwordMinLengthRegular": 7}, "passwordMinLengthRegular", "OUT_OF_RANGE"),
        ({"passwordMinLengthRegular": -1}, "passwordMinLengthRegular", "OUT_OF_RANGE"),
        ({"passwordMinLengthAdmin": 129}, "passwordMinLengthAdmin", "OUT_OF_RANGE"),
        ({"passwordMinLengthAdmin": None}, "passwordMinLengthAdmin", "REQUIRED"),
        ({"publicProfiles": None}, "publicProfiles", "REQUIRED"),
        ({"passwordPolicy": None}, "passwordPolicy", "REQUIRED"),
    ],
)
async def test_update_server_settings_refusals(gql, services, db, changes, field, code):
    token = await admin_token(services)
    before = await snapshot(db)
    body = await gql.data(UPDATE, {"input": {"signupEnabled": True, **changes}}, token=token)
    assert body["updateServerSettings"] == {
        "serverSettings": None,
        "errors": [{"field": field, "code": code}],
    }
    assert await snapshot(db) == before


async def test_unknown_policy_is_a_validation_error(gql, services, db):
    token = await admin_token(services)
    before = await snapshot(db)
    body = await gql.execute(UPDATE, {"input": {"passwordPolicy": "NONE"}}, token=token)
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await snapshot(db) == before
