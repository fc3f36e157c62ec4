"""Admin mutations: createUser, updateUser, setUserPassword, approveUser, deleteUser — rules,
CANNOT_MODIFY_SELF, NOT_FOUND and "nothing changed" on every refusal."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update
from strawberry import relay

from stridegraph.db.enums import PasswordPolicy, TokenPurpose
from stridegraph.db.models import OneTimeToken, User
from tests.conftest import share_app_per_module
from tests.helpers import PASSWORD, login_token, make_user
from tests.photos_support import png
from tests.users_support import gid, set_settings, snapshot, user_row

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()

CREATE = """
mutation($input: CreateUserInput!) {
  createUser(input: $input) {
    user { id username name email accessType active emailVerified pendingAdminApproval city height
           privacySettings { hideActivityMap } }
    errors { field code message }
  }
}
"""
UPDATE = """
mutation($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) {
    user { username name email accessType active city }
    errors { field code }
  }
}
"""
SET_PASSWORD = """
mutation($id: ID!, $password: String!) {
  setUserPassword(id: $id, password: $password) { user { username } errors { field code } }
}
"""
APPROVE = """
mutation($id: ID!) {
  approveUser(id: $id) { user { active pendingAdminApproval } errors { field code } }
}
"""
DELETE = "mutation($id: ID!) { deleteUser(id: $id) { deletedUserId errors { field code } } }"
ADMIN_PASSWORD = "admin password long 1A!"
NEW = {"username": "new.user", "email": "New.User@Example.com", "name": "New User"}
MISSING = relay.to_base64("User", 987654)


async def admin_setup(services: Any) -> dict[str, Any]:
    admin = await make_user(services, "root", admin=True, password=ADMIN_PASSWORD)
    other = await make_user(services, "other")
    return {"admin": admin, "other": other, "token": await login_token(services, admin)}


def errors_of(body: dict[str, Any], name: str) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in body[name]["errors"]]


# --------------------------------------------------------------------------- createUser


async def test_create_user_with_a_password(gql, services, db):
    s = await admin_setup(services)
    body = await gql.data(
        CREATE,
        {"input": {**NEW, "password": "a fine password", "city": "Faro", "height": 180}},
        token=s["token"],
    )
    created = body["createUser"]
    assert created["errors"] == []
    assert created["user"]["username"] == "new.user" and created["user"]["email"] == NEW["email"]
    assert created["user"]["accessType"] == "REGULAR" and created["user"]["active"] is True
    assert created["user"]["emailVerified"] is True  # an admin vouches for the address
    assert created["user"]["city"] == "Faro" and created["user"]["height"] == 180
    assert created["user"]["privacySettings"] == {"hideActivityMap": False}
    row = await user_row(db, int(relay.from_base64(created["user"]["id"])[1]))
    assert row["email"] == "New.User@Example.com"  # stored as given
    assert PasswordHasher().verify(row["password_hash"], "a fine password")
    admin = await gql.data(
        CREATE,
        {
            "input": {
                **NEW,
                "username": "second.admin",
                "email": "a2@example.com",
                "password": ADMIN_PASSWORD,
                "accessType": "ADMIN",
                "active": False,
            }
        },
        token=s["token"],
    )
    assert admin["createUser"]["user"]["accessType"] == "ADMIN"
    assert admin["createUser"]["user"]["active"] is False


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"username": ""}, "username", "REQUIRED"),
        ({"username": "no spaces"}, "username", "INVALID"),
        ({"username": "x" * 251}, "username", "TOO_LONG"),
        ({"username": "OTHER"}, "username", "USERNAME_TAKEN"),
        ({"email": "not-an-email"}, "email", "INVALID"),
        ({"email": "two@@example.com"}, "email", "INVALID"),
        ({"email": ""}, "email", "REQUIRED"),
        ({"email": "a" * 240 + "@example.com"}, "email", "TOO_LONG"),
        ({"email": "OTHER@example.COM"}, "email", "EMAIL_TAKEN"),
        ({"name": ""}, "name", "REQUIRED"),
        ({"name": "n" * 251}, "name", "TOO_LONG"),
        ({"city": "c" * 251}, "city", "TOO_LONG"),
        ({"height": 301}, "height", "OUT_OF_RANGE"),
        ({"maxHeartRate": 20}, "maxHeartRate", "OUT_OF_RANGE"),
        ({"birthdate": "2999-01-01"}, "birthdate", "OUT_OF_RANGE"),
        ({"password": "short"}, "password", "TOO_SHORT"),
        ({"password": "x" * 2000}, "password", "TOO_LONG"),
        ({"password": "NEW.user"}, "password", "PASSWORD_TOO_WEAK"),
        ({"password": "NEW.USER@example.com"}, "password", "PASSWORD_TOO_WEAK"),
        ({"password": "eleven char", "accessType": "ADMIN"}, "password", "TOO_SHORT"),
        ({"password": None}, "password", "MAIL_DISABLED"),  # no mail here: no link to send
    ],
)
async def test_create_user_rule_by_rule(gql, services, db, changes, field, code):
    s = await admin_setup(services)
    before = await snapshot(db)
    body = await gql.data(
        CREATE, {"input": {**NEW, "password": "a fine password", **changes}}, token=s["token"]
    )
    assert body["createUser"]["user"] is None
    assert errors_of(body, "createUser") == [(field, code)], body
    assert await snapshot(db) == before


async def test_create_user_follows_the_strict_policy_and_lengths_from_settings(gql, services, db):
    s = await admin_setup(services)
    await set_settings(db, password_policy=PasswordPolicy.STRICT, password_min_length_regular=10)
    before = await snapshot(db)
    for password, code in (("alllowercase1!", "PASSWORD_TOO_WEAK"), ("Ab1!Ab1!x", "TOO_SHORT")):
        body = await gql.data(CREATE, {"input": {**NEW, "password": password}}, token=s["token"])
        assert errors_of(body, "createUser") == [("password", code)]
    assert await snapshot(db) == before
    body = await gql.data(CREATE, {"input": {**NEW, "password": "Ab1!Ab1!xy"}}, token=s["token"])
    assert body["createUser"]["errors"] == []


async def test_create_user_refuses_unknown_enums_and_bad_types(gql, services, db):
    s = await admin_setup(services)
    before = await snapshot(db)
    for extra in ({"accessType": "ROOT"}, {"gender": "X"}, {"height": 1.5}, {"name": None}):
        body = await gql.execute(
            CREATE, {"input": {**NEW, "password": "a fine password", **extra}}, token=s["token"]
        )
        assert body.get("data") is None
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert await snapshot(db) == before


# --------------------------------------------------------------------------- updateUser


async def test_update_user_profile_email_role_and_active(gql, services, db):
    s = await admin_setup(services)
    other = s["other"]
    other_token = await login_token(services, other)
    body = await gql.data(
        UPDATE,
        {
            "id": gid(other),
            "input": {
                "name": "Changed",
                "email": "Changed@Example.com",
                "city": "Évora",
                "accessType": "ADMIN",
            },
        },
        token=s["token"],
    )
    assert body["updateUser"] == {
        "user": {
            "username": "other",
            "name": "Changed",
            "email": "Changed@Example.com",
            "accessType": "ADMIN",
            "active": True,
            "city": "Évora",
        },
        "errors": [],
    }
    row = await user_row(db, other.id)
    assert row["access_type"].value == "admin" and row["email"] == "Changed@Example.com"
    body = await gql.data(
        UPDATE,
        {"id": gid(other), "input": {"active": False, "accessType": "REGULAR"}},
        token=s["token"],
    )
    assert body["updateUser"]["errors"] == []
    row = await user_row(db, other.id)
    assert row["active"] is False and row["access_type"].value == "regular"
    refused = await gql.execute("{ me { id } }", token=other_token)
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # an admin may edit their own profile fields
    own = await gql.data(
        UPDATE, {"id": gid(s["admin"]), "input": {"city": "Beja"}}, token=s["token"]
    )
    assert own["updateUser"]["errors"] == [] and own["updateUser"]["user"]["city"] == "Beja"


@pytest.mark.parametrize(
    ("target", "changes", "field", "code"),
    [
        ("self", {"accessType": "REGULAR"}, "accessType", "CANNOT_MODIFY_SELF"),
        ("self", {"active": False}, "active", "CANNOT_MODIFY_SELF"),
        ("self", {"active": False, "city": "X"}, "active", "CANNOT_MODIFY_SELF"),
        ("other", {"email": "root@example.com"}, "email", "EMAIL_TAKEN"),
        ("other", {"email": "nope"}, "email", "INVALID"),
        ("other", {"email": None}, "email", "REQUIRED"),
        ("other", {"username": "ROOT"}, "username", "USERNAME_TAKEN"),
        ("other", {"username": "bad/name"}, "username", "INVALID"),
        ("other", {"accessType": None}, "accessType", "REQUIRED"),
        ("other", {"active": None}, "active", "REQUIRED"),
        ("other", {"height": 0}, "height", "OUT_OF_RANGE"),
        ("other", {"name": "n" * 300}, "name", "TOO_LONG"),
        ("missing", {"city": "X"}, "id", "NOT_FOUND"),
        ("missing", {"active": False}, "id", "NOT_FOUND"),
        ("garbage", {"city": "X"}, "id", "INVALID"),
    ],
)
async def test_update_user_refusals_change_nothing(gql, services, db, target, changes, field, code):
    s = await admin_setup(services)
    ids = {"self": gid(s["admin"]), "other": gid(s["other"]), "missing": MISSING, "garbage": "zzz"}
    before = await snapshot(db)
    body = await gql.data(UPDATE, {"id": ids[target], "input": changes}, token=s["token"])
    assert body["updateUser"]["user"] is None
    assert errors_of(body, "updateUser") == [(field, code)], body
    assert await snapshot(db) == before


# --------------------------------------------------------------------------- setUserPassword


async def test_set_user_password(gql, services, db):
    s = await admin_setup(services)
    other = s["other"]
    other_token = await login_token(services, other)
    before = await snapshot(db)
    cases = [
        (gid(s["admin"]), "another fine password", ("id", "CANNOT_MODIFY_SELF")),
        (gid(other), "short", ("password", "TOO_SHORT")),
        (gid(other), "OTHER@example.com", ("password", "PASSWORD_TOO_WEAK")),
        (MISSING, "another fine password", ("id", "NOT_FOUND")),
        ("bad id", "another fine password", ("id", "INVALID")),
    ]
    for target, password, error in cases:
        body = await gql.data(SET_PASSWORD, {"id": target, "password": password}, token=s["token"])
        assert errors_of(body, "setUserPassword") == [error]
    assert await snapshot(db) == before
    body = await gql.data(
        SET_PASSWORD, {"id": gid(other), "password": "another fine password"}, token=s["token"]
    )
    assert body["setUserPassword"]["errors"] == []
    row = await user_row(db, other.id)
    assert PasswordHasher().verify(row["password_hash"], "another fine password")
    assert row["password_changed_at"] is not None
    ended = await gql.execute("{ me { id } }", token=other_token)  # their sessions ended
    assert ended["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --------------------------------------------------------------------------- approveUser


async def test_approve_user(gql, services, db):
    s = await admin_setup(services)
    pending = await make_user(
        services, "waiting", active=False, pending_admin_approval=True, email_verified=False
    )
    # mail is disabled here, so verification cannot be required: approval goes through
    body = await gql.data(APPROVE, {"id": gid(pending)}, token=s["token"])
    assert body["approveUser"] == {
        "user": {"active": True, "pendingAdminApproval": False},
        "errors": [],
    }
    row = await user_row(db, pending.id)
    assert row["active"] is True and row["pending_admin_approval"] is False
    before = await snapshot(db)
    for target, error in ((MISSING, ("id", "NOT_FOUND")), ("!", ("id", "INVALID"))):
        body = await gql.data(APPROVE, {"id": target}, token=s["token"])
        assert errors_of(body, "approveUser") == [error]
    # approving an account that waits for nothing changes nothing
    deactivated = await make_user(services, "off", active=False)
    before = await snapshot(db)
    body = await gql.data(APPROVE, {"id": gid(deactivated)}, token=s["token"])
    assert body["approveUser"]["user"] == {"active": False, "pendingAdminApproval": False}
    assert await snapshot(db) == before


# --------------------------------------------------------------------------- deleteUser


async def test_delete_user(gql, services, db):
    s = await admin_setup(services)
    other = s["other"]
    other_token = await login_token(services, other)
    upload = await gql.upload(
        "mutation($f: Upload!) { uploadMyPhoto(file: $f) { errors { code } } }",
        {"f": None},
        {"f": ("p.png", png(color=(1, 2, 3)), "image/png")},
        token=other_token,
    )
    assert upload.json()["data"]["uploadMyPhoto"]["errors"] == []
    photo_file = services.settings.photos_dir / (await user_row(db, other.id))["photo_path"]
    before = await snapshot(db)
    for target, error in (
        (gid(s["admin"]), ("id", "CANNOT_MODIFY_SELF")),
        (MISSING, ("id", "NOT_FOUND")),
        ("###", ("id", "INVALID")),
    ):
        body = await gql.data(DELETE, {"id": target}, token=s["token"])
        assert errors_of(body, "deleteUser") == [error]
        assert body["deleteUser"]["deletedUserId"] is None
    assert await snapshot(db) == before and photo_file.exists()
    body = await gql.data(DELETE, {"id": gid(other)}, token=s["token"])
    assert body["deleteUser"] == {"deletedUserId": gid(other), "errors": []}
    assert await user_row(db, other.id) is None and not photo_file.exists()
    assert (await gql.execute("{ me { id } }", token=other_token))["errors"]
    again = await gql.data(DELETE, {"id": gid(other)}, token=s["token"])
    assert errors_of(again, "deleteUser") == [("id", "NOT_FOUND")]


async def test_a_demoted_admins_other_sessions_lose_admin_powers(gql, services, db):
    s = await admin_setup(services)
    second = await make_user(services, "second", admin=True, password=ADMIN_PASSWORD)
    second_token = await login_token(services, second)
    body = await gql.data(
        UPDATE, {"id": gid(second), "input": {"accessType": "REGULAR"}}, token=s["token"]
    )
    assert body["updateUser"]["errors"] == []
    refused = await gql.execute(DELETE, {"id": gid(s["other"])}, token=second_token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await user_row(db, s["other"].id) is not None


async def test_login_password_of_created_user_works_with_helpers(gql, services):
    """A user made through createUser can sign in with the given password (argon2id)."""
    s = await admin_setup(services)
    await gql.data(CREATE, {"input": {**NEW, "password": PASSWORD}}, token=s["token"])
    login = await gql.data(
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken errors { code } } }",
        {"u": "NEW.user", "p": PASSWORD},
    )
    assert login["login"]["errors"] == [] and login["login"]["accessToken"]


# --------------------------------------------------------------------------- emailVerified

VERIFY_UPDATE = """
mutation($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { user { active emailVerified } errors { field code } }
}
"""
LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken errors { code } } }"""


async def test_update_user_verifies_and_activates_in_one_call(gql, services, db):
    """The seed's PATCH activate: an unverified, deactivated sign-up can sign in at once."""
    s = await admin_setup(services)
    newbie = await make_user(services, "newbie", email_verified=False, active=False)
    async with db.engine.begin() as conn:
        await conn.execute(
            OneTimeToken.__table__.insert().values(
                user_id=newbie.id,
                purpose=TokenPurpose.EMAIL_VERIFICATION,
                token_hash=b"h" * 32,
                new_email=newbie.email,
                created_at=services.now(),
                expires_at=services.now() + dt.timedelta(days=1),
            )
        )
    refused = await gql.data(LOGIN, {"u": "newbie", "p": PASSWORD})
    assert refused["login"]["errors"] == [{"code": "ACCOUNT_INACTIVE"}]
    body = await gql.data(
        VERIFY_UPDATE,
        {"id": gid(newbie), "input": {"emailVerified": True, "active": True}},
        token=s["token"],
    )
    assert body["updateUser"] == {"user": {"active": True, "emailVerified": True}, "errors": []}
    row = await user_row(db, newbie.id)
    assert row["email_verified"] is True and row["active"] is True
    async with db.engine.connect() as conn:  # the link still out is void
        (used,) = (await conn.execute(select(OneTimeToken.used_at))).all()
    assert used[0] is not None
    signed_in = await gql.data(LOGIN, {"u": "newbie", "p": PASSWORD})
    assert signed_in["login"]["errors"] == [] and signed_in["login"]["accessToken"]
    # and back: the address must be proven again
    body = await gql.data(
        VERIFY_UPDATE, {"id": gid(newbie), "input": {"emailVerified": False}}, token=s["token"]
    )
    assert body["updateUser"]["errors"] == []
    assert (await user_row(db, newbie.id))["email_verified"] is False


@pytest.mark.parametrize(
    ("target", "changes", "field", "code"),
    [
        ("self", {"emailVerified": False}, "emailVerified", "CANNOT_MODIFY_SELF"),
        ("other", {"emailVerified": None}, "emailVerified", "REQUIRED"),
        ("unowned", {"emailVerified": True}, "emailVerified", "EMAIL_TAKEN"),
        ("garbage", {"emailVerified": True}, "id", "INVALID"),
    ],
)
async def test_email_verified_refusals_change_nothing(
    gql, services, db, target, changes, field, code
):
    s = await admin_setup(services)
    other = await make_user(services, "unverified", email_verified=False)
    unowned = await make_user(services, "intruder", email="x@example.com", email_verified=False)
    async with db.engine.begin() as conn:  # as a sign-up with a taken address leaves it
        await conn.execute(update(User).where(User.id == unowned.id).values(email_key=None))
    ids = {"self": gid(s["admin"]), "other": gid(other), "unowned": gid(unowned), "garbage": "zzz"}
    before = await snapshot(db)
    body = await gql.data(VERIFY_UPDATE, {"id": ids[target], "input": changes}, token=s["token"])
    assert body["updateUser"]["user"] is None
    assert errors_of(body, "updateUser") == [(field, code)], body
    assert await snapshot(db) == before
