"""Federation ``_entities`` with crafted representations (issue 11, point 6): a typed error,
never INTERNAL_SERVER_ERROR, and no look-up started and abandoned."""

from __future__ import annotations

import gc
import warnings
from typing import Any

import pytest

from stridegraph.graph.ids import to_global_id
from tests.helpers import login_token, make_user

QUERY = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { username } } }"
ALICE = {"__typename": "User", "id": to_global_id("User", 1)}


@pytest.fixture
async def token(services: Any) -> str:
    user = await make_user(services, "alice", admin=True)
    assert user.id == 1
    return await login_token(services, user)


@pytest.mark.parametrize(
    "representations",
    [
        [1],
        ["x"],
        [[ALICE]],
        [{}],
        [{"id": ALICE["id"]}],
        [{"__typename": "User"}],
        [{"__typename": 5, "id": ALICE["id"]}],
        [{"__typename": "Nope", "id": ALICE["id"]}],
        [{"__typename": "Query"}],
        [{"__typename": "UserMe", "id": ALICE["id"]}],
        [{"__typename": "User", "id": 1}],
        [{"__typename": "User", "id": {"a": 1}}],
        [{"__typename": "User", "id": ALICE["id"], "extra": 1}],
        [ALICE, 5],
        [ALICE, ALICE, {}],
    ],
)
async def test_a_bad_representation_fails_the_field_with_bad_user_input(
    gql: Any, token: str, representations: list[Any]
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        body = await gql.execute(QUERY, {"r": representations}, token=token)
        gc.collect()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == "representations"
    assert not [w for w in caught if "never awaited" in str(w.message)]


@pytest.mark.parametrize("bad_id", ["x", to_global_id("User", 0), to_global_id("Session", 1)])
async def test_a_malformed_id_is_bad_user_input_for_that_entity(
    gql: Any, token: str, bad_id: str
) -> None:
    body = await gql.execute(
        QUERY, {"r": [ALICE, {"__typename": "User", "id": bad_id}]}, token=token
    )
    assert body["data"] == {"_entities": [{"username": "alice"}, None]}
    [error] = body["errors"]
    assert error["path"] == ["_entities", 1]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
