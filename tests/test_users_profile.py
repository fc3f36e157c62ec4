"""Profile mutations: updateMe (rule by rule), updatePrivacySettings, deleteMe."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from stridegraph.db.models import ApiToken, Integrations, PrivacySettings, Session
from stridegraph.domain.scopes import PROFILE_READ
from tests.conftest import share_app_per_module
from tests.helpers import PASSWORD, login_token, make_user, scoped_token
from tests.photos_support import png
from tests.users_support import snapshot, user_row

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()

UPDATE_ME = """
mutation($input: UpdateMeInput!) {
  updateMe(input: $input) {
    user { username name city birthdate preferredLanguage gender units height maxHeartRate
           firstDayOfWeek currency email }
    errors { field code message }
  }
}
"""
TODAY = dt.datetime.now(dt.UTC).date()


async def signed_in(services: Any) -> tuple[Any, str]:
    user = await make_user(services, "regular", name="Regular Person")
    await make_user(services, "taken", email="taken@example.com")
    return user, await login_token(services, user)


async def test_update_me_changes_what_is_given_and_keeps_the_rest(gql, services, db):
    user, token = await signed_in(services)
    changes = {
        "name": "  Renamed Person ",
        "username": "Regular.Two",
        "city": "Porto",
        "birthdate": "1990-05-17",
        "preferredLanguage": "PT",
        "gender": "FEMALE",
        "units": "IMPERIAL",
        "height": 300,
        "maxHeartRate": 30,
        "firstDayOfWeek": "SUNDAY",
        "currency": "POUND",
    }
    body = await gql.data(UPDATE_ME, {"input": changes}, token=token)
    assert body["updateMe"]["errors"] == []
    assert body["updateMe"]["user"] == {
        **changes,
        "name": "Renamed Person",
        "email": "regular@example.com",
    }
    row = await user_row(db, user.id)
    assert row["name"] == "Renamed Person" and row["username"] == "Regular.Two"
    assert row["city"] == "Porto" and row["birthdate"] == dt.date(1990, 5, 17)
    assert row["height"] == 300 and row["max_heart_rate"] == 30
    assert row["preferred_language"].value == "pt" and row["currency"].value == "pound"
    # null clears a nullable field; fields left out are kept
    body = await gql.data(
        UPDATE_ME, {"input": {"city": None, "height": 1, "maxHeartRate": 250}}, token=token
    )
    assert body["updateMe"]["errors"] == []
    row = await user_row(db, user.id)
    assert row["city"] is None and row["height"] == 1 and row["max_heart_rate"] == 250
    assert row["name"] == "Renamed Person" and row["gender"].value == "female"
    # today is not in the future; changing only the case of one's own username is fine
    body = await gql.data(
        UPDATE_ME,
        {"input": {"birthdate": TODAY.isoformat(), "username": "REGULAR.two"}},
        token=token,
    )
    assert body["updateMe"]["errors"] == []


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"name": ""}, "name", "REQUIRED"),
        ({"name": "   "}, "name", "REQUIRED"),
        ({"name": None}, "name", "REQUIRED"),
        ({"name": "n" * 251}, "name", "TOO_LONG"),
        ({"username": ""}, "username", "REQUIRED"),
        ({"username": "u" * 251}, "username", "TOO_LONG"),
        ({"username": "has space"}, "username", "INVALID"),
        ({"username": "under_score"}, "username", "INVALID"),
        ({"username": "ünïcode"}, "username", "INVALID"),
        ({"username": "TAKEN"}, "username", "USERNAME_TAKEN"),
        ({"city": "c" * 251}, "city", "TOO_LONG"),
        ({"height": 0}, "height", "OUT_OF_RANGE"),
        ({"height": 301}, "height", "OUT_OF_RANGE"),
        ({"height": -5}, "height", "OUT_OF_RANGE"),
        ({"maxHeartRate": 29}, "maxHeartRate", "OUT_OF_RANGE"),
        ({"maxHeartRate": 251}, "maxHeartRate", "OUT_OF_RANGE"),
        ({"birthdate": (TODAY + dt.timedelta(days=2)).isoformat()}, "birthdate", "OUT_OF_RANGE"),
        ({"preferredLanguage": None}, "preferredLanguage", "REQUIRED"),
        ({"currency": None}, "currency", "REQUIRED"),
    ],
)
async def test_update_me_rule_by_rule(gql, services, db, changes, field, code):
    _, token = await signed_in(services)
    before = await snapshot(db)
    body = await gql.data(UPDATE_ME, {"input": {"city": "Lisbon", **changes}}, token=token)
    assert body["updateMe"]["user"] is None
    assert [(e["field"], e["code"]) for e in body["updateMe"]["errors"]] == [(field, code)]
    assert body["updateMe"]["errors"][0]["message"]
    assert await snapshot(db) == before


async def test_update_me_lists_every_problem_at_once(gql, services, db):
    _, token = await signed_in(services)
    before = await snapshot(db)
    body = await gql.data(
        UPDATE_ME, {"input": {"name": "", "height": 999, "maxHeartRate": 1}}, token=token
    )
    got = {(e["field"], e["code"]) for e in body["updateMe"]["errors"]}
    assert got == {
        ("name", "REQUIRED"),
        ("height", "OUT_OF_RANGE"),
        ("maxHeartRate", "OUT_OF_RANGE"),
    }
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    "changes",
    [
        {"gender": "ROBOT"},
        {"preferredLanguage": "EN"},
        {"units": "PARSECS"},
        {"email": "new@example.com"},  # e-mail changes go through requestEmailChange
        {"height": "tall"},
        {"birthdate": "1990-02-30"},
    ],
)
async def test_update_me_input_the_schema_refuses(gql, services, db, changes):
    _, token = await signed_in(services)
    before = await snapshot(db)
    body = await gql.execute(UPDATE_ME, {"input": changes}, token=token)
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert await snapshot(db) == before


PRIVACY = """
mutation($input: PrivacySettingsInput!) {
  updatePrivacySettings(input: $input) {
    privacySettings { defaultActivityVisibility hideActivityMap hideActivityHr hideActivityGear }
    errors { field code }
  }
}
"""


async def privacy_row(db: Any, user_id: int) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(PrivacySettings.__table__).where(PrivacySettings.user_id == user_id)
            )
        ).one()
    return dict(row._mapping)


async def test_update_privacy_settings(gql, services, db):
    user, token = await signed_in(services)
    body = await gql.data(
        PRIVACY,
        {"input": {"defaultActivityVisibility": "FOLLOWERS", "hideActivityMap": True}},
        token=token,
    )
    assert body["updatePrivacySettings"] == {
        "privacySettings": {
            "defaultActivityVisibility": "FOLLOWERS",
            "hideActivityMap": True,
            "hideActivityHr": False,
            "hideActivityGear": False,
        },
        "errors": [],
    }
    row = await privacy_row(db, user.id)
    assert row["default_activity_visibility"].value == "followers" and row["hide_activity_map"]
    me = await gql.data("{ me { privacySettings { hideActivityMap } } }", token=token)
    assert me["me"]["privacySettings"]["hideActivityMap"] is True
    before = await snapshot(db)
    refused = await gql.data(
        PRIVACY, {"input": {"hideActivityHr": True, "hideActivityGear": None}}, token=token
    )
    assert refused["updatePrivacySettings"]["errors"] == [
        {"field": "hideActivityGear", "code": "REQUIRED"}
    ]
    bad_enum = await gql.execute(
        PRIVACY, {"input": {"defaultActivityVisibility": "FRIENDS"}}, token=token
    )
    assert bad_enum.get("data") is None and bad_enum["errors"]
    assert await snapshot(db) == before


DELETE_ME = (
    "mutation($p: String!) { deleteMe(password: $p) { deletedUserId errors { field code } } }"
)


async def owned_rows(db: Any, user_id: int) -> dict[str, int]:
    counts = {}
    async with db.engine.connect() as conn:
        for model in (PrivacySettings, Integrations, Session, ApiToken):
            counts[model.__tablename__] = await conn.scalar(
                select(func.count()).select_from(model).where(model.user_id == user_id)
            )
    return counts


async def test_delete_me_needs_the_password_and_removes_everything(gql, services, db):
    user, token = await signed_in(services)
    await scoped_token(services, user, [PROFILE_READ])
    upload = await gql.upload(
        "mutation($f: Upload!) { uploadMyPhoto(file: $f) { errors { code } } }",
        {"f": None},
        {"f": ("me.png", png(), "image/png")},
        token=token,
    )
    assert upload.json()["data"]["uploadMyPhoto"]["errors"] == []
    photo = (await user_row(db, user.id))["photo_path"]
    photo_file = services.settings.photos_dir / photo
    assert photo_file.exists()
    before = await snapshot(db)
    for wrong in ("wrong password", "", "x" * 5000):
        body = await gql.data(DELETE_ME, {"p": wrong}, token=token)
        assert body["deleteMe"] == {
            "deletedUserId": None,
            "errors": [{"field": "password", "code": "INVALID_CREDENTIALS"}],
        }
    assert await snapshot(db) == before and photo_file.exists()
    assert (await owned_rows(db, user.id))["sessions"] == 1

    body = await gql.data(DELETE_ME, {"p": PASSWORD}, token=token)
    assert body["deleteMe"]["errors"] == [] and body["deleteMe"]["deletedUserId"]
    assert await user_row(db, user.id) is None
    assert set((await owned_rows(db, user.id)).values()) == {0}
    assert not photo_file.exists()
    gone = await gql.execute("{ me { id } }", token=token)
    assert gone["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await user_row(db, (await make_user(services, "still.here")).id)  # others untouched


async def test_the_last_admin_cannot_delete_themself(gql, services, db):
    admin = await make_user(services, "root", admin=True)
    token = await login_token(services, admin)
    await make_user(services, "asleep", admin=True, active=False)  # inactive admins do not count
    before = await snapshot(db)
    body = await gql.data(DELETE_ME, {"p": PASSWORD}, token=token)
    assert body["deleteMe"]["errors"] == [{"field": None, "code": "LAST_ADMIN"}]
    assert await snapshot(db) == before
    await make_user(services, "second", admin=True)
    body = await gql.data(DELETE_ME, {"p": PASSWORD}, token=token)
    assert body["deleteMe"]["errors"] == []
    assert await user_row(db, admin.id) is None
