"""The request edge (issue 11, point 6): bad bodies are HTTP 400 with a GraphQL error body,
and NUL / lone surrogates are refused before anything reads them, on both databases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from stridegraph.db.models import LoginAttempt, User
from stridegraph.domain.unit import Services, open_unit
from tests.conftest import share_app_per_module
from tests.helpers import PASSWORD, login_token, make_user

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()

JSON = {"content-type": "application/json"}
DEEP = "[" * 200_000 + "]" * 200_000


def _code(response: Any) -> str:
    [error] = response.json()["errors"]
    return str(error["extensions"]["code"])


@pytest.mark.parametrize(
    "body",
    [
        b"123",
        b"[]",
        b'"x"',
        b"null",
        b"{",
        b"\xff\xfe",
        b'{"query": 5}',
        b'{"query": "{ __typename }", "variables": [1]}',
        b'{"query": "{ __typename }", "variables": "x"}',
        b'{"query": "{ __typename }", "operationName": 5}',
        b'{"query": "{ __typename }", "extensions": 1}',
        (
            '{"query": "query($v: String) { __typename }", "variables": {"v": ' + DEEP + "}}"
        ).encode(),
        b'{"query": "query($v: [String]) { __typename }", "variables": {"v": '
        + b"[" * 500
        + b"]" * 500
        + b"}}",
    ],
    ids=[
        "int",
        "list",
        "string",
        "null",
        "truncated",
        "not-utf8",
        "query-int",
        "variables-list",
        "variables-string",
        "operation-name-int",
        "extensions-int",
        "nested-200k",
        "nested-500",
    ],
)
async def test_a_bad_body_is_400_with_a_graphql_error(http: Any, body: bytes) -> None:
    response = await http.post("/graphql", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert _code(response) == "BAD_REQUEST"


MUTATION = "mutation($f: Upload!) { uploadMyPhoto(file: $f) { errors { code } } }"
OPERATIONS = json.dumps({"query": MUTATION, "variables": {"f": None}})


@pytest.mark.parametrize(
    ("operations", "mapping"),
    [
        (OPERATIONS, "[1]"),
        (OPERATIONS, '{"0": "variables.f"}'),
        (OPERATIONS, '{"0": ["variables.f.x.y"]}'),
        (OPERATIONS, '{"0": ["variables.f.0"]}'),
        (OPERATIONS, '{"0": [5]}'),
        (OPERATIONS, '{"1": ["variables.f"]}'),
        (OPERATIONS, "{"),
        ("5", '{"0": ["variables.f"]}'),
    ],
)
async def test_a_bad_multipart_request_is_400(http: Any, operations: str, mapping: str) -> None:
    response = await http.post(
        "/graphql",
        data={"operations": operations, "map": mapping},
        files={"0": ("a.png", b"not really", "image/png")},
        headers={"Apollo-Require-Preflight": "true"},
    )
    assert response.status_code == 400, response.text
    assert _code(response) == "BAD_REQUEST"


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\udfff"], ids=["nul", "high", "low"])
@pytest.mark.parametrize(
    "make_body",
    [
        lambda bad: {"query": f'{{ userByUsername(username: "a{bad}") {{ id }} }}'},
        lambda bad: {"query": f"{{ __typename }} # {bad}"},
        lambda bad: {"query": "query Q { __typename }", "operationName": f"Q{bad}"},
        lambda bad: {
            "query": "query($u: String!) { userByUsername(username: $u) { id } }",
            "variables": {"u": f"x{bad}"},
        },
        lambda bad: {
            "query": "mutation($i: UpdateMeInput!) { updateMe(input: $i) { errors { code } } }",
            "variables": {"i": {"name": "ok", "city": [[{"deep": f"x{bad}"}]]}},
        },
        lambda bad: {"query": "{ __typename }", "variables": {f"k{bad}": 1}},
        lambda bad: {"query": "{ __typename }", "extensions": {"x": bad}},
    ],
    ids=["literal", "comment", "operation-name", "variable", "nested-variable", "key", "ext"],
)
async def test_forbidden_characters_in_the_body_are_400_bad_user_input(
    http: Any, bad: str, make_body: Any
) -> None:
    body = json.dumps(make_body(bad)).encode()  # ensure_ascii: the body itself is valid JSON
    response = await http.post("/graphql", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert _code(response) == "BAD_USER_INPUT"
    assert "U+0000" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800", "\\udc00"])
async def test_escaped_forbidden_characters_in_literals_are_refused(gql: Any, escape: str) -> None:
    body = await gql.execute(f'{{ userByUsername(username: "a{escape}") {{ id }} }}')
    assert body.get("data") is None
    [error] = body["errors"]
    assert "path" not in error
    if escape == "\\u0000":
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    else:  # graphql-core's lexer refuses an escaped lone surrogate itself
        assert "Invalid Unicode escape" in error["message"]


async def test_an_escaped_surrogate_pair_is_fine(services: Services, gql: Any) -> None:
    admin = await make_user(services, "alice", admin=True)
    token = await login_token(services, admin)
    data = await gql.data(
        'mutation { updateMe(input: {city: "\\ud83c\\udfc3"}) { errors { code } user { city } } }',
        token=token,
    )
    assert data["updateMe"] == {"errors": [], "user": {"city": "\U0001f3c3"}}


async def test_anonymous_login_with_nul_is_refused_and_records_nothing(
    services: Services, http: Any
) -> None:
    await make_user(services, "alice")
    query = (
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p)"
        " { accessToken errors { code } } }"
    )
    for variables in ({"u": "alice\x00", "p": PASSWORD}, {"u": "alice", "p": PASSWORD + "\x00"}):
        body = json.dumps({"query": query, "variables": variables})
        response = await http.post("/graphql", content=body, headers=JSON)
        assert response.status_code == 400
        assert _code(response) == "BAD_USER_INPUT"
    literal = json.dumps(
        {"query": 'mutation { login(username: "a\\u0000", password: "x") { accessToken } }'}
    )
    response = await http.post("/graphql", content=literal, headers=JSON)
    assert response.status_code == 200
    assert _code(response) == "BAD_USER_INPUT"
    async with open_unit(services) as unit:
        attempts = await unit.session.scalar(select(func.count()).select_from(LoginAttempt))
        users = await unit.session.scalar(select(func.count()).select_from(User))
    assert (attempts, users) == (0, 1)


async def test_an_unprotected_multipart_request_is_a_graphql_error(http: Any) -> None:
    response = await http.post(
        "/graphql",
        data={"operations": OPERATIONS, "map": '{"0": ["variables.f"]}'},
        files={"0": ("a.png", b"x", "image/png")},
    )
    assert response.status_code == 400
    assert _code(response) == "BAD_REQUEST"
    assert "Apollo-Require-Preflight" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"query": "{ __typename }", "variables": "[1]"}, "BAD_REQUEST"),
        ({"query": "{ __typename }", "variables": "{"}, "BAD_REQUEST"),
        (
            {"query": "{ __typename }", "variables": '{"v": ' + "[" * 5000 + "]" * 5000 + "}"},
            "BAD_REQUEST",
        ),
        ({"query": "{ __typename }", "variables": '{"v": "a\\u0000"}'}, "BAD_USER_INPUT"),
        ({"query": "{ __typename \x00 }"}, "BAD_USER_INPUT"),
    ],
)
async def test_get_requests_get_the_same_edge(http: Any, params: dict[str, str], code: str) -> None:
    response = await http.get("/graphql", params=params)
    assert response.status_code == 400, response.text
    assert _code(response) == code


async def test_a_mutation_over_get_is_405_with_allow_post(http: Any) -> None:
    """GraphQL over HTTP: a GET may not run a mutation; 405 says which method can."""
    response = await http.get(
        "/graphql", params={"query": "mutation { logout { errors { code } } }"}
    )
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    assert _code(response) == "METHOD_NOT_ALLOWED"


async def test_a_document_that_does_not_validate_is_typed(gql: Any) -> None:
    for query in ("{ nope }", "{ userByUsername(username: 5) { id } }"):
        body = await gql.execute(query)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
