"""User queries: look-ups, visibility, public profiles, node, federation entities."""

from __future__ import annotations

from typing import Any

from strawberry import relay

from tests.helpers import login_token, make_user
from tests.users_support import gid, set_settings

PRIVATE = "email birthdate height maxHeartRate active emailVerified pendingAdminApproval mfaEnabled externalAuthCount isStravaLinked privacySettings { hideActivityMap }"
USER = f"query($id: ID!) {{ user(id: $id) {{ id username name city accessType createdAt {PRIVATE} }} }}"


def codes(body: dict[str, Any]) -> list[str]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


async def people(services: Any) -> dict[str, Any]:
    regular = await make_user(services, "regular")
    other = await make_user(services, "other", name="Other Person")
    admin = await make_user(services, "boss", admin=True)
    inactive = await make_user(services, "sleeper", active=False)
    pending = await make_user(services, "waiting", pending_admin_approval=True)
    return {
        "regular": regular,
        "other": other,
        "admin": admin,
        "inactive": inactive,
        "pending": pending,
        "regular_token": await login_token(services, regular),
        "admin_token": await login_token(services, admin),
    }


async def test_others_private_fields_are_null_own_and_admin_see_them(gql, services):
    p = await people(services)
    seen = (await gql.data(USER, {"id": gid(p["other"])}, token=p["regular_token"]))["user"]
    assert seen["username"] == "other" and seen["name"] == "Other Person"
    assert seen["accessType"] == "REGULAR" and seen["createdAt"]
    for field in ("email", "active", "emailVerified", "externalAuthCount", "privacySettings"):
        assert seen[field] is None, field
    own = (await gql.data(USER, {"id": gid(p["regular"])}, token=p["regular_token"]))["user"]
    assert own["email"] == "regular@example.com" and own["active"] is True
    assert own["privacySettings"] == {"hideActivityMap": False}
    by_admin = (await gql.data(USER, {"id": gid(p["other"])}, token=p["admin_token"]))["user"]
    assert by_admin["email"] == "other@example.com"
    assert by_admin["pendingAdminApproval"] is False and by_admin["externalAuthCount"] == 0


async def test_non_admins_never_see_inactive_or_unapproved_users(gql, services):
    p = await people(services)
    for hidden in ("inactive", "pending"):
        user = p[hidden]
        for token, expected in ((p["regular_token"], None), (p["admin_token"], user.username)):
            got = (await gql.data(USER, {"id": gid(user)}, token=token))["user"]
            assert (got and got["username"]) == expected
            by_name = await gql.data(
                "query($u: String!) { userByUsername(username: $u) { username } }",
                {"u": user.username.upper()},
                token=token,
            )
            assert (by_name["userByUsername"] or {}).get("username") == expected
            node = await gql.data(
                "query($id: ID!) { node(id: $id) { ... on User { username } } }",
                {"id": gid(user)},
                token=token,
            )
            assert (node["node"] or {}).get("username") == expected
    listed = await gql.data(
        "{ users(first: 50) { totalCount nodes { username } } }", token=p["regular_token"]
    )
    names = {n["username"] for n in listed["users"]["nodes"]}
    assert names == {"regular", "other", "boss"} and listed["users"]["totalCount"] == 3
    page = await gql.data("{ userPage { totalCount items { username } } }", token=p["admin_token"])
    assert page["userPage"]["totalCount"] == 5


async def test_anonymous_access_follows_public_profiles(gql, services, db):
    p = await people(services)
    queries = {
        "user": (USER, {"id": gid(p["other"])}),
        "userByUsername": ('{ userByUsername(username: "other") { username } }', None),
        "users": ("{ users { totalCount } }", None),
        "userPage": ("{ userPage { totalCount } }", None),
        "node": ("query($id: ID!) { node(id: $id) { id } }", {"id": gid(p["other"])}),
    }
    for name, (query, variables) in queries.items():
        body = await gql.execute(query, variables)
        assert codes(body) == ["UNAUTHENTICATED"], (name, body)
        assert body["data"] is None or body["data"].get(name) is None
    await set_settings(db, public_profiles=True)
    seen = (await gql.data(USER, {"id": gid(p["other"])}))["user"]
    assert seen["username"] == "other" and seen["city"] is None
    assert seen["email"] is None and seen["active"] is None and seen["privacySettings"] is None
    assert (await gql.data(USER, {"id": gid(p["inactive"])}))["user"] is None
    listed = await gql.data("{ users { totalCount nodes { username email } } }")
    assert listed["users"]["totalCount"] == 3
    assert all(n["email"] is None for n in listed["users"]["nodes"])
    email = await gql.execute('{ userByEmail(email: "other@example.com") { id } }')
    assert codes(email) == ["UNAUTHENTICATED"]


async def test_user_by_email_is_for_admins_and_case_insensitive(gql, services):
    p = await people(services)
    query = "query($e: String!) { userByEmail(email: $e) { username email } }"
    found = await gql.data(query, {"e": "  OTHER@Example.COM "}, token=p["admin_token"])
    assert found["userByEmail"] == {"username": "other", "email": "other@example.com"}
    none = await gql.data(query, {"e": "nobody@example.com"}, token=p["admin_token"])
    assert none["userByEmail"] is None
    refused = await gql.execute(query, {"e": "other@example.com"}, token=p["regular_token"])
    assert codes(refused) == ["FORBIDDEN"] and refused["data"]["userByEmail"] is None


async def test_a_malformed_id_is_a_clear_error(gql, services):
    p = await people(services)
    token = p["regular_token"]
    for bad in ("garbage", relay.to_base64("Session", p["other"].id), relay.to_base64("User", "x")):
        body = await gql.execute(
            "query($id: ID!) { user(id: $id) { id } }", {"id": bad}, token=token
        )
        assert codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["extensions"]["field"] == "id"
    body = await gql.execute('{ node(id: "!!!") { id } }', token=token)
    assert codes(body) == ["BAD_USER_INPUT"]
    unknown = await gql.data(USER, {"id": relay.to_base64("User", 999999)}, token=token)
    assert unknown["user"] is None


async def test_node_resolves_users_with_user_visibility(gql, services):
    p = await people(services)
    body = await gql.data(
        "query($id: ID!) { node(id: $id) { __typename id ... on User { username email } } }",
        {"id": gid(p["other"])},
        token=p["admin_token"],
    )
    assert body["node"] == {
        "__typename": "User",
        "id": gid(p["other"]),
        "username": "other",
        "email": "other@example.com",
    }


async def test_federation_entities_have_the_same_permissions(gql, services, db):
    p = await people(services)
    query = (
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { username email } } }"
    )
    reps = [
        {"__typename": "User", "id": gid(p["other"])},
        {"__typename": "User", "id": gid(p["pending"])},
        {"__typename": "User", "id": gid(p["regular"])},
    ]
    seen = await gql.data(query, {"r": reps}, token=p["regular_token"])
    assert seen["_entities"] == [
        {"username": "other", "email": None},
        None,
        {"username": "regular", "email": "regular@example.com"},
    ]
    anonymous = await gql.execute(query, {"r": reps[:1]})
    assert "UNAUTHENTICATED" in codes(anonymous)
    await set_settings(db, public_profiles=True)
    public = await gql.data(query, {"r": reps[:2]})
    assert public["_entities"] == [{"username": "other", "email": None}, None]


async def test_lookups_by_many_ids_share_one_statement(gql, services, sql_counter):
    p = await people(services)
    aliases = " ".join(
        f'u{i}: user(id: "{gid(p[k])}") {{ username }}'
        for i, k in enumerate(("regular", "other", "admin"))
    )
    sql_counter.reset()
    body = await gql.data(f"{{ {aliases} }}", token=p["regular_token"])
    assert [body[f"u{i}"]["username"] for i in range(3)] == ["regular", "other", "boss"]
    assert sql_counter.count == 2, sql_counter.statements  # the viewer, then one look-up


async def test_oversized_lookups_are_clear_errors(gql, services):
    p = await people(services)
    for query, token in (
        ("query($v: String!) { userByUsername(username: $v) { id } }", p["regular_token"]),
        ("query($v: String!) { userByEmail(email: $v) { id } }", p["admin_token"]),
    ):
        body = await gql.execute(query, {"v": "x" * 251}, token=token)
        assert codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["extensions"]["reason"] == "TOO_LONG"
