"""GraphQL over HTTP conformance (issue 14, point 1).

The ``graphql-http`` package's own audit runs against the real server and every one of its
results must be ``ok`` (no warn, no error, no notice). The rest pins down what the audit does
not look at: the media-type negotiation, the status of each kind of request error under
``application/graphql-response+json`` while ``application/json`` keeps its legacy 200, and
the stable ``extensions.code`` of every request error (the README's list).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from stridegraph.app import create_app
from stridegraph.config import Settings
from stridegraph.graph import request_codes
from stridegraph.graph.http_protocol import GRAPHQL_RESPONSE_JSON, JSON, negotiate
from tests.conftest import server_env, share_app_per_module, start_server, stop_server
from tests.node_http_support import run_node

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()

GRJ = {"accept": GRAPHQL_RESPONSE_JSON}
APOLLO_ACCEPT = {"accept": f"{GRAPHQL_RESPONSE_JSON},{JSON};q=0.9"}


@pytest.mark.slow
def test_the_graphql_http_audit_is_all_ok(settings: Settings, tmp_path: Path) -> None:
    """Introspection on: the audit's variables checks query ``__type(name: $name)``; with
    PostgreSQL it is off by default, and what it refuses is the schema, not the protocol."""
    server = start_server(server_env(settings, STRIDEGRAPH_INTROSPECTION="true"), tmp_path)
    try:
        results = run_node("audit.mjs", f"{server.url}/graphql")
    finally:
        stop_server(server)
    assert len(results) > 50, results  # the audit ran (61 audits in graphql-http 1.23)
    failing = [r for r in results if r["status"] != "ok"]
    for result in failing:
        print(result)
    assert not failing, failing


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        ("text/html", JSON),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON},{JSON};q=0.9", GRAPHQL_RESPONSE_JSON),
        (f"{JSON}, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        (f"{JSON}, {GRAPHQL_RESPONSE_JSON};q=0.5", JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0", JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=oops, */*", JSON),
        ("APPLICATION/GRAPHQL-RESPONSE+JSON; charset=utf-8, */*;q=0.1", GRAPHQL_RESPONSE_JSON),
    ],
)
def test_accept_negotiates_the_media_type(accept: str | None, media_type: str) -> None:
    assert negotiate(accept) == media_type


async def post(
    http: httpx.AsyncClient, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await http.post("/graphql", json=body, headers=headers or {})


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


REQUEST_ERRORS = [
    ({"query": "{"}, "GRAPHQL_PARSE_FAILED"),
    ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
    (
        {"query": "query($n: Int!) { users(first: $n) { totalCount } }", "variables": {"n": "x"}},
        "BAD_USER_INPUT",
    ),
    ({"query": "query A { __typename } query B { __typename }"}, "OPERATION_RESOLUTION_FAILURE"),
    (
        {"query": "query A { __typename }", "operationName": "B"},
        "OPERATION_RESOLUTION_FAILURE",
    ),
    (
        {"query": "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"},
        "MAX_ALIASES_LIMIT",
    ),
    ({"query": "{ " + "__typename " * 2100 + "}"}, "MAX_TOKENS_LIMIT"),
]


@pytest.mark.parametrize(("body", "code"), REQUEST_ERRORS)
async def test_a_request_error_is_4xx_without_data_in_graphql_response_json(
    http: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    response = await post(http, body, APOLLO_ACCEPT)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    assert "data" not in response.json()
    assert codes(response) == [code]


@pytest.mark.parametrize(("body", "code"), REQUEST_ERRORS)
async def test_a_request_error_stays_200_in_legacy_application_json(
    http: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    for headers in ({}, {"accept": JSON}, {"accept": "*/*"}):
        response = await post(http, body, headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == JSON
        assert response.json()["data"] is None
        assert codes(response) == [code]


async def test_several_operations_run_only_with_an_operation_name(
    http: httpx.AsyncClient,
) -> None:
    document = "query A { a: __typename } query B { b: __typename }"
    response = await post(http, {"query": document, "operationName": "B"}, GRJ)
    assert response.status_code == 200
    assert response.json() == {"data": {"b": "Query"}}


async def test_an_executed_operation_is_200_with_data_even_with_field_errors(
    http: httpx.AsyncClient,
) -> None:
    response = await post(http, {"query": "{ me { id } serverSettings { signupEnabled } }"}, GRJ)
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    body = response.json()
    assert body["data"]["me"] is None and body["data"]["serverSettings"] is not None
    assert codes(response) == ["UNAUTHENTICATED"]


async def test_a_refused_token_is_401_in_graphql_response_json(http: httpx.AsyncClient) -> None:
    headers = {**GRJ, "authorization": "Bearer sga_" + "x" * 43}
    response = await post(http, {"query": "{ me { id } }"}, headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "data" not in response.json() and codes(response) == ["UNAUTHENTICATED"]
    legacy = await post(
        http, {"query": "{ me { id } }"}, {"authorization": headers["authorization"]}
    )
    assert legacy.status_code == 200 and codes(legacy) == ["UNAUTHENTICATED"]


async def test_the_refused_sdl_is_403_and_the_depth_limit_typed(
    settings: Any, services: Any
) -> None:
    app = create_app(settings.with_(introspection=False, max_query_depth=1), services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        sdl = await post(client, {"query": "{ _service { sdl } }"}, GRJ)
        deep = await post(client, {"query": "{ me { privacySettings { hideActivityMap } } }"}, GRJ)
    assert sdl.status_code == 403 and codes(sdl) == ["FORBIDDEN"]
    assert deep.status_code == 400 and codes(deep) == ["MAX_DEPTH_LIMIT"]


@pytest.mark.parametrize(
    ("request_kwargs", "code"),
    [
        (
            {"content": b'{"query": "{ __typename }"}', "headers": {"content-type": "text/plain"}},
            "BAD_REQUEST",
        ),
        ({"content": b'{"query": "{ __typename }"}', "headers": {}}, "BAD_REQUEST"),
        ({"content": b'{ "not json', "headers": {"content-type": JSON}}, "BAD_REQUEST"),
        ({"json": [{"query": "{ __typename }"}]}, "BAD_REQUEST"),
        ({"json": {"query": "{ __typename }", "variables": "x"}}, "BAD_REQUEST"),
        ({"json": {"query": 5}}, "BAD_REQUEST"),
        ({"json": {"qeury": "{ __typename }"}}, "BAD_REQUEST"),
    ],
)
async def test_a_malformed_request_is_a_typed_graphql_json_error(
    http: httpx.AsyncClient, request_kwargs: dict[str, Any], code: str
) -> None:
    for accept in (JSON, GRAPHQL_RESPONSE_JSON):
        kwargs = {
            **request_kwargs,
            "headers": {**request_kwargs.get("headers", {}), "accept": accept},
        }
        response = await http.post("/graphql", **kwargs)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == accept
        assert codes(response) == [code]


async def test_other_methods_are_405_with_allow(http: httpx.AsyncClient) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = await http.request(method, "/graphql", headers=GRJ)
        assert response.status_code == 405, (method, response.text)
        assert response.headers["allow"] == "GET, POST"
        assert codes(response) == ["METHOD_NOT_ALLOWED"]


def test_the_readme_lists_every_request_error_code() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## GraphQL over HTTP", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([A-Z_]+)`", section, flags=re.M))
    defined = {
        value
        for name, value in vars(request_codes).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }
    assert defined <= listed, defined - listed
