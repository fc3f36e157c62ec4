"""Federation ``_entities`` with crafted representations (issue 11, point 6; issue 14,
point 4): a typed error, never INTERNAL_SERVER_ERROR, and no look-up started and abandoned;
a bounded list; and over HTTP with the real server, nothing but JSON in its log."""

from __future__ import annotations

import gc
import json
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

from stridegraph.config import Settings
from stridegraph.domain.unit import Services
from stridegraph.graph.ids import to_global_id
from tests.conftest import server_env, start_server, stop_server
from tests.helpers import login_token, make_user

QUERY = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { username } } }"
ALICE = {"__typename": "User", "id": to_global_id("User", 1)}


@pytest.fixture
async def token(services: Any) -> str:
    user = await make_user(services, "alice", admin=True)
    assert user.id == 1
    return await login_token(services, user)


JUNK: list[list[Any]] = [
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
]
BAD_IDS = ["x", to_global_id("User", 0), to_global_id("Session", 1)]


@pytest.mark.parametrize("representations", JUNK)
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


@pytest.mark.parametrize("bad_id", BAD_IDS)
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


async def test_more_representations_than_the_limit_are_refused_whole(gql: Any, token: str) -> None:
    body = await gql.execute(QUERY, {"r": [ALICE] * 1001}, token=token)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "reason": "OUT_OF_RANGE",
        "field": "representations",
    }
    assert "1000" in error["message"]
    at_limit = await gql.data(QUERY, {"r": [ALICE] * 1000}, token=token)
    assert at_limit["_entities"] == [{"username": "alice"}] * 1000


def _post(url: str, variables: Any, token: str | None) -> httpx.Response:
    # application/json: the legacy media type, whose status is 200 for every GraphQL answer
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(
        f"{url}/graphql",
        json={"query": QUERY, "variables": variables},
        headers=headers,
        timeout=30,
    )


def clean_log(log: str) -> None:
    """Every line of the server's output is a JSON object, and none reports an unexpected
    error, a traceback or a coroutine left unawaited."""
    for line in log.splitlines():
        record = json.loads(line)
        assert record["level"] not in ("ERROR", "CRITICAL"), record
    for needle in ("never awaited", "Traceback", "Internal server error"):
        assert needle not in log


async def test_junk_over_http_gives_typed_errors_and_a_clean_log(
    settings: Settings, services: Services, tmp_path: Path
) -> None:
    """The real server under uvicorn (limit 50 representations), as an admin and as an
    anonymous client (public profiles off): every answer is JSON with typed errors."""
    admin = await make_user(services, "alice", admin=True)
    token = await login_token(services, admin)
    env = server_env(settings, STRIDEGRAPH_MAX_REPRESENTATIONS="50")
    server = start_server(env, tmp_path)
    try:
        cases: list[tuple[Any, str | None]] = [({"r": junk}, token) for junk in JUNK]
        cases += [({"r": junk}, None) for junk in JUNK]
        cases += [({"r": [ALICE, {"__typename": "User", "id": b}]}, token) for b in BAD_IDS]
        cases += [({"r": [ALICE] * 51}, token), ({"r": [ALICE] * 51}, None)]
        cases += [({"r": [None]}, token), ({"r": ALICE}, None), ({"r": "x" * 100}, token)]
        typed = {"BAD_USER_INPUT", "UNAUTHENTICATED"}
        for variables, viewer in cases:
            response = _post(server.url, variables, viewer)
            assert response.status_code == 200, response.text
            errors = response.json()["errors"]
            assert {e["extensions"]["code"] for e in errors} <= typed, (variables, errors)
        # 50 distinct ids, mostly of no user: one look-up, nulls, no error
        many = [{"__typename": "User", "id": to_global_id("User", i)} for i in range(1, 51)]
        at_limit = _post(server.url, {"r": many}, token).json()
        assert "errors" not in at_limit
        assert at_limit["data"]["_entities"] == [{"username": "alice"}] + [None] * 49
        # a list as long as the body limit allows is refused before parsing, as JSON
        huge = _post(server.url, {"r": [ALICE] * 30_000}, token)
        assert huge.status_code == 413
        assert huge.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    finally:
        stop_server(server)
    clean_log(server.log())
