"""Crafted cursors (issue 11, point 6) are a top-level BAD_USER_INPUT naming the argument,
on both databases, never a 500 or a masked internal error."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import share_app_per_module
from tests.helpers import login_token, make_user

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()


def cursor(payload: object) -> str:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    return base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode().rstrip("=")


CRAFTED = {
    "naive-datetime": ("CREATED_AT", ["created_at", "2026-01-01T00:00:00", 1]),
    "year-1-east": ("CREATED_AT", ["created_at", "0001-01-01T00:00:00+14:00", 1]),
    "year-9999-west": ("CREATED_AT", ["created_at", "9999-12-31T23:59:59-14:00", 1]),
    "datetime-not-text": ("CREATED_AT", ["created_at", 5, 1]),
    "id-2^63": ("USERNAME", ["username", "a", 2**63]),
    "id-2^31": ("USERNAME", ["username", "a", 2**31]),
    "id-zero": ("USERNAME", ["username", "a", 0]),
    "id-bool": ("USERNAME", ["username", "a", True]),
    "id-float": ("USERNAME", ["username", "a", 1.5]),
    "nul": ("USERNAME", ["username", "a\x00b", 1]),
    "surrogate": ("NAME", '["name", "a\\ud800", 1]'),
    "huge-text": ("NAME", ["name", "x" * 5000, 1]),
    "value-list": ("NAME", ["name", ["x"], 1]),
    "access-type-list": ("ACCESS_TYPE", ["access_type", ["ADMIN"], 1]),
    "access-type-unknown": ("ACCESS_TYPE", ["access_type", "ROOT", 1]),
    "other-order": ("NAME", ["username", "a", 1]),
    "two-items": ("USERNAME", ["username", "a"]),
    "not-a-list": ("USERNAME", {"a": 1}),
    "huge-int-literal": ("USERNAME", '["username", "a", ' + "9" * 5000 + "]"),
    "nested": ("USERNAME", "[" * 100_000 + "]" * 100_000),
    "garbage": ("USERNAME", "not base64 json at all"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
@pytest.mark.parametrize("argument", ["after", "before"])
async def test_a_crafted_cursor_is_bad_user_input_naming_the_argument(
    services: Any, gql: Any, case: str, argument: str
) -> None:
    admin = await make_user(services, "root", admin=True)
    token = await login_token(services, admin)
    order, payload = CRAFTED[case]
    value = "%%%" if case == "garbage" else cursor(payload)
    body = await gql.execute(
        f"query($c: String!) {{ users(orderBy: {{field: {order}}}, {argument}: $c)"
        " { totalCount edges { node { id } } } }",
        {"c": value},
        token=token,
    )
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == argument


async def test_real_cursors_still_page(services: Any, gql: Any) -> None:
    admin = await make_user(services, "root", admin=True)
    await make_user(services, "bob")
    token = await login_token(services, admin)
    for order in ("USERNAME", "NAME", "CREATED_AT", "ACCESS_TYPE"):
        query = (
            "query($c: String) { users(orderBy: {field: ORDER}, first: 1, after: $c)"
            " { edges { cursor node { username } } } }"
        ).replace("ORDER", order)
        first = await gql.data(query, {"c": None}, token=token)
        [edge] = first["users"]["edges"]
        second = await gql.data(query, {"c": edge["cursor"]}, token=token)
        [other] = second["users"]["edges"]
        assert {edge["node"]["username"], other["node"]["username"]} == {"root", "bob"}
