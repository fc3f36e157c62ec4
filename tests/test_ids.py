"""Canonical ids only (issue 11, point 6): one parser (graph.ids) for global ids, plain row
ids and ``GET /photos/{userId}``; every other spelling is refused, never a 500 and never
another name for an existing user."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from stridegraph.graph.ids import decode_global_id, parse_global_id, parse_row_id, to_global_id
from tests.conftest import share_app_per_module
from tests.helpers import login_token, make_user
from tests.photos_support import png

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()

NON_CANONICAL = [
    "01",
    "+1",
    "-1",
    "0",
    " 1",
    "1 ",
    "1.0",
    "\u0661",
    "\uff11",
    "\u00b2",
    "1_0",
    "",
    "2147483648",
    "9223372036854775808",
]


def raw_gid(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_row_ids_are_canonical_ascii_integers_in_64_bits() -> None:
    assert parse_row_id("1") == 1
    assert parse_row_id("2147483647") == 2**31 - 1  # PostgreSQL's integer keys
    for bad in NON_CANONICAL:
        assert parse_row_id(bad) is None, bad


def test_global_ids_are_exactly_what_we_hand_out() -> None:
    assert decode_global_id(to_global_id("User", 7)) == ("User", 7)
    assert parse_global_id(to_global_id("User", 7), "User") == 7
    assert parse_global_id(to_global_id("Session", 7), "User") is None
    for bad in NON_CANONICAL:
        assert decode_global_id(raw_gid(f"User:{bad}")) is None, bad
    canonical = to_global_id("User", 12)  # "VXNlcjoxMg=="
    for variant in (
        canonical.rstrip("="),  # unpadded
        canonical + "\n",
        " " + canonical,
        canonical.replace("=", "") + "===",
        raw_gid("User:12:"),
        raw_gid(":12"),
        raw_gid("User12"),
        base64.b64encode(b"User:\xff").decode(),
        "!!!",
        "",
        "V" * 1000,
    ):
        assert decode_global_id(variant) is None, variant


@pytest.fixture
async def alice(services: Any, gql: Any) -> dict[str, Any]:
    """User 1, with a photo, and her token."""
    user = await make_user(services, "alice")
    assert user.id == 1
    token = await login_token(services, user)
    upload = "mutation($file: Upload!) { uploadMyPhoto(file: $file) { errors { code } } }"
    response = await gql.upload(upload, None, {"file": ("a.png", png(), "image/png")}, token=token)
    assert response.json()["data"]["uploadMyPhoto"]["errors"] == []
    return {"user": user, "token": token}


@pytest.mark.parametrize("spelling", NON_CANONICAL)
async def test_queries_refuse_other_spellings_with_bad_user_input(
    gql: Any, alice: dict[str, Any], spelling: str
) -> None:
    bad = raw_gid(f"User:{spelling}")
    for query in (
        "query($id: ID!) { user(id: $id) { id } }",
        "query($id: ID!) { node(id: $id) { id } }",
    ):
        body = await gql.execute(query, {"id": bad}, token=alice["token"])
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", body
        assert error["extensions"]["field"] == "id"


@pytest.mark.parametrize("type_name", ["Query", "Session", "UserMe", "PageInfo", "Nope"])
async def test_node_refuses_ids_of_types_that_are_not_nodes(
    gql: Any, alice: dict[str, Any], type_name: str
) -> None:
    body = await gql.execute(
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": to_global_id(type_name, 1)},
        token=alice["token"],
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_the_canonical_id_still_works(gql: Any, alice: dict[str, Any]) -> None:
    data = await gql.data(
        "query($id: ID!) { user(id: $id) { username } node(id: $id) { id } }",
        {"id": to_global_id("User", 1)},
        token=alice["token"],
    )
    assert data == {"user": {"username": "alice"}, "node": {"id": to_global_id("User", 1)}}


@pytest.mark.parametrize("spelling", [*(s for s in NON_CANONICAL if s), "%C2%B2", "%D9%A1", "%00"])
async def test_photos_refuse_other_spellings(
    http: Any, alice: dict[str, Any], spelling: str
) -> None:
    headers = {"Authorization": f"Bearer {alice['token']}"}
    for path in (spelling, raw_gid(f"User:{spelling}")):
        response = await http.get(f"/photos/{path}", headers=headers)
        assert response.status_code == 404, (path, response.status_code)
    for canonical in ("1", to_global_id("User", 1)):
        assert (await http.get(f"/photos/{canonical}", headers=headers)).status_code == 200


async def test_mutations_answer_invalid_for_other_spellings(gql: Any, services: Any) -> None:
    admin = await make_user(services, "root", admin=True)
    token = await login_token(services, admin)
    for spelling in ("\u00b2", "01", "\u0661", "+1"):
        data = await gql.data(
            "mutation($user: ID!, $session: ID!) { approveUser(id: $user) { errors { field code } }"
            " revokeSession(id: $session) { errors { code } } }",
            {"user": raw_gid(f"User:{spelling}"), "session": raw_gid(f"Session:{spelling}")},
            token=token,
        )
        assert data["approveUser"]["errors"] == [{"field": "id", "code": "INVALID"}]
        assert data["revokeSession"]["errors"] == [{"code": "INVALID"}], data  # decode_id
    assert (await gql.data("{ me { id } }", token=token))["me"]  # session 1 lives on
