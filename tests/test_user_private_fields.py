"""Private ``User`` fields are decided once per object (``User.of`` wraps the row in the request),
not by a permission class per field per row; every path that hands out a ``User`` still
hides them from other users."""

from __future__ import annotations

from typing import Any

from strawberry.permission import PermissionExtension

from stridegraph.graph.schema import build_schema
from tests.conftest import make_settings
from tests.helpers import login_token, make_user
from tests.users_support import gid

PRIVATE = (
    "email birthdate preferredLanguage gender units height maxHeartRate firstDayOfWeek "
    "currency active mfaEnabled emailVerified pendingAdminApproval externalAuthCount "
    "isStravaLinked isGarminconnectLinked privacySettings { hideActivityMap }"
)
PRIVATE_NAMES = PRIVATE.split(" {")[0].split()
PRIVATE_SCALARS = [
    "email",
    "birthdate",
    "preferred_language",
    "gender",
    "units",
    "height",
    "max_heart_rate",
    "first_day_of_week",
    "currency",
    "active",
    "mfa_enabled",
    "email_verified",
    "pending_admin_approval",
]
FIELDS = f"id username accessType {PRIVATE}"
LISTINGS = {
    "users": f"{{ users(first: 50) {{ edges {{ node {{ {FIELDS} }} }} nodes {{ {FIELDS} }} }} }}",
    "userPage": f"{{ userPage(perPage: 50) {{ items {{ {FIELDS} }} }} }}",
}


def _listed(name: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    if name == "users":
        return [e["node"] for e in data["users"]["edges"]] + data["users"]["nodes"]
    return list(data["userPage"]["items"])


async def _people(services: Any) -> dict[str, Any]:
    alice = await make_user(services, "alice")
    bob = await make_user(services, "bob")
    admin = await make_user(services, "boss", admin=True)
    return {
        "alice": alice,
        "bob": bob,
        "alice_token": await login_token(services, alice),
        "admin_token": await login_token(services, admin),
    }


async def test_listings_hide_others_private_fields_and_show_own(gql, services):
    p = await _people(services)
    for name, query in LISTINGS.items():
        body = await gql.execute(query, token=p["alice_token"])
        assert not body.get("errors"), body
        rows = _listed(name, body["data"])
        others = [row for row in rows if row["username"] != "alice"]
        own = [row for row in rows if row["username"] == "alice"]
        assert others and own, name
        for row in others:
            assert all(row[field] is None for field in PRIVATE_NAMES), (name, row)
        for row in own:
            assert row["email"] == "alice@example.com" and row["active"] is True, name
            assert row["externalAuthCount"] == 0 and row["isStravaLinked"] is False, name
            assert row["privacySettings"] == {"hideActivityMap": False}, name


async def test_admin_listing_sees_every_private_field(gql, services):
    p = await _people(services)
    for name, query in LISTINGS.items():
        rows = _listed(name, await gql.data(query, token=p["admin_token"]))
        bob = next(row for row in rows if row["username"] == "bob")
        assert bob["email"] == "bob@example.com" and bob["emailVerified"] is True, name
        assert bob["pendingAdminApproval"] is False and bob["mfaEnabled"] is False, name
        assert bob["privacySettings"] == {"hideActivityMap": False}, name


async def test_lookups_node_and_entities_hide_others_private_fields(gql, services):
    p = await _people(services)
    bob = gid(p["bob"])
    queries = {
        "user": (f"query($id: ID!) {{ user(id: $id) {{ {FIELDS} }} }}", {"id": bob}),
        "userByUsername": (
            f'{{ userByUsername(username: "bob") {{ {FIELDS} }} }}',
            {},
        ),
        "node": (
            f"query($id: ID!) {{ node(id: $id) {{ ... on User {{ {FIELDS} }} }} }}",
            {"id": bob},
        ),
        "_entities": (
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { "
            f"{FIELDS} }} }} }}",
            {"r": [{"__typename": "User", "id": bob}]},
        ),
    }
    for name, (query, variables) in queries.items():
        data = await gql.data(query, variables, token=p["alice_token"])
        row = data[name][0] if name == "_entities" else data[name]
        assert row["username"] == "bob", name
        assert all(row[field] is None for field in PRIVATE_NAMES), (name, row)
        by_admin = await gql.data(query, variables, token=p["admin_token"])
        row = by_admin[name][0] if name == "_entities" else by_admin[name]
        assert row["email"] == "bob@example.com", name


def test_private_fields_are_plain_fields_without_a_permission_per_field() -> None:
    """The cost this pins: no ``User`` field carries a permission extension (one awaitable
    per private field per row), and the private scalars have no resolver at all."""
    schema = build_schema(make_settings("sqlite+aiosqlite://", __import__("pathlib").Path(".")))
    definition = schema.get_type_by_name("User")
    assert definition is not None
    fields = {field.python_name: field for field in definition.fields}  # type: ignore[union-attr]
    for name, field in fields.items():
        assert not any(isinstance(e, PermissionExtension) for e in field.extensions), name
    for name in PRIVATE_SCALARS:
        assert fields[name].base_resolver is None and not fields[name].extensions, name
