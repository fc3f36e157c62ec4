"""The first slice end to end: ``me`` and ``serverSettings``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from stridegraph.db.models import ServerSettings, Session
from tests.helpers import login_token, make_user

ME = """
query Me {
  me {
    id username name email accessType active emailVerified mfaEnabled pendingAdminApproval
    preferredLanguage units currency firstDayOfWeek createdAt externalAuthCount
    isStravaLinked isGarminconnectLinked
    privacySettings { defaultActivityVisibility hideActivityMap hideActivityGear }
  }
}
"""


async def test_me_anonymous_is_unauthenticated(gql):
    body = await gql.execute(ME)
    assert body["data"] == {"me": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_me_with_a_session_token(gql, services):
    user = await make_user(services, "alice", name="Alice Liddell")
    token = await login_token(services, user)
    me = (await gql.data(ME, token=token))["me"]
    assert me["username"] == "alice"
    assert me["name"] == "Alice Liddell"
    assert me["email"] == "alice@example.com"
    assert me["accessType"] == "REGULAR"
    assert me["active"] is True and me["mfaEnabled"] is False
    assert me["preferredLanguage"] == "US" and me["units"] == "METRIC"
    assert me["externalAuthCount"] == 0
    assert me["isStravaLinked"] is False
    assert me["privacySettings"] == {
        "defaultActivityVisibility": "PUBLIC",
        "hideActivityMap": False,
        "hideActivityGear": False,
    }


async def test_a_bad_token_is_an_error_not_anonymous(gql, services):
    body = await gql.execute("{ serverSettings { signupEnabled } }", token="sga_" + "x" * 43)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_expired_session_is_refused(gql, services, db):
    user = await make_user(services, "bob")
    token = await login_token(services, user)
    async with db.engine.begin() as conn:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await conn.execute(update(Session).values(access_expires_at=past))
    body = await gql.execute(ME, token=token)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_viewer_costs_one_statement(gql, services, sql_counter):
    user = await make_user(services, "carol")
    token = await login_token(services, user)
    sql_counter.reset()
    await gql.data("{ me { username } }", token=token)
    assert sql_counter.count == 1, sql_counter.statements


async def test_server_settings_defaults_and_stored_values(gql, db):
    settings = (
        await gql.data(
            "{ serverSettings { signupEnabled signupRequireEmailVerification signupRequireAdminApproval publicProfiles passwordPolicy passwordMinLengthRegular passwordMinLengthAdmin mailEnabled } }"
        )
    )["serverSettings"]
    assert settings == {
        "signupEnabled": False,
        # mail is disabled in this configuration, so verification cannot be required
        "signupRequireEmailVerification": False,
        "signupRequireAdminApproval": False,
        "publicProfiles": False,
        "passwordPolicy": "LENGTH_ONLY",
        "passwordMinLengthRegular": 8,
        "passwordMinLengthAdmin": 12,
        "mailEnabled": False,
    }
    async with db.engine.begin() as conn:
        await conn.execute(update(ServerSettings).values(signup_enabled=True, public_profiles=True))
    again = (await gql.data("{ serverSettings { signupEnabled publicProfiles } }"))[
        "serverSettings"
    ]
    assert again == {"signupEnabled": True, "publicProfiles": True}
