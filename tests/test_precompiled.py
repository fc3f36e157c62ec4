"""Precompiled queries (``graph/precompiled.py``, ``graph/precompiled_view.py``): a repeated
plain query is answered from its plan, byte for byte what the executor answers, with the
same checks; everything else goes through the executor.

Each case runs against two apps on the same services: one with plans, one with
``PRECOMPILED_QUERIES=false``. The first request of a document always takes the full path
(it validates the document); from the second on, the plan answers, which the request log
line says (``precompiled``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from graphql import parse

from stridegraph.app import create_app
from stridegraph.graph.precompiled import compile_plan
from stridegraph.graph.schema import build_schema
from tests.helpers import login_token, make_user

ME = (
    "query Me { me { id username name email city birthdate preferredLanguage gender units"
    " height maxHeartRate firstDayOfWeek currency accessType photoUrl active mfaEnabled"
    " emailVerified pendingAdminApproval createdAt externalAuthCount isStravaLinked } }"
)
LISTING = (
    "query Users($after: String, $n: Int) { users(first: $n, after: $after) { totalCount"
    " edges { cursor node { id username name city accessType createdAt email birthdate"
    " height active photoUrl } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor"
    " } } }"
)
WITH_FRAGMENTS = (
    "query Shaped { who: me { ...Mine __typename } users(first: 2) { edges { node { ... on"
    " User { handle: username __typename } } } __typename } }"
    " fragment Mine on UserMe { id username }"
)
PRIVACY = (
    "query Privacy { users(first: 10) { edges { node { username privacySettings {"
    " defaultActivityVisibility hideActivityMap } } } } }"
)
PAGE = (
    "query Page($p: Int) { userPage(page: $p, perPage: 2) { totalCount pageCount items { id"
    " username email } } }"
)
ONE = "query One($id: ID!) { user(id: $id) { id username email } }"


@dataclass
class Pair:
    planned: httpx.AsyncClient
    plain: httpx.AsyncClient


def client_for(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def pair(settings: Any, services: Any) -> AsyncIterator[Pair]:
    planned = create_app(settings.with_(precompiled_queries=True), services=services)
    plain = create_app(settings.with_(precompiled_queries=False), services=services)
    async with client_for(planned) as a, client_for(plain) as b:
        yield Pair(a, b)


@pytest.fixture
async def people(services: Any) -> dict[str, str]:
    admin = await make_user(services, "root", admin=True)
    alice = await make_user(services, "alice", name="Alice Äpfel")
    await make_user(services, "bob")
    await make_user(services, "carol")
    return {
        "admin": await login_token(services, admin),
        "alice": await login_token(services, alice),
    }


def request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "stridegraph.http" and r.msg == "request"]


async def send(
    client: httpx.AsyncClient, query: str, token: str | None = None, **body: Any
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await client.post("/graphql", json={"query": query, **body}, headers=headers)


async def same_answers(
    pair: Pair, caplog: pytest.LogCaptureFixture, query: str, token: str | None, **body: Any
) -> tuple[httpx.Response, bool]:
    """Three requests to the planned app, one to the plain one: all alike. Returns the
    answer and whether the plan answered the repeats."""
    expected = await send(pair.plain, query, token, **body)
    caplog.clear()
    answers = [await send(pair.planned, query, token, **body) for _ in range(3)]
    for answer in answers:
        assert answer.status_code == expected.status_code
        assert answer.headers["content-type"] == expected.headers["content-type"]
        assert answer.content == expected.content, (answer.content, expected.content)
    lines = request_lines(caplog)
    assert len(lines) == 3
    planned = [line.precompiled for line in lines[1:]]
    assert planned in ([True, True], [False, False]), planned
    # a document's first request validates it on the full path (unless it came before)
    assert lines[0].precompiled is False or planned == [True, True]
    return expected, planned == [True, True]


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stridegraph.http")


@pytest.mark.parametrize(
    ("query", "who", "variables"),
    [
        (ME, "alice", None),
        (ME, "admin", None),
        (LISTING, "admin", {"n": 3}),
        (LISTING, "alice", {"n": 2}),  # others' private fields are null for alice
        (LISTING, None, {"n": 2}),  # anonymous listing: PUBLIC_PROFILES decides, as before
        (WITH_FRAGMENTS, "alice", None),
        (PRIVACY, "admin", None),
        (PAGE, "admin", {"p": 2}),
    ],
)
async def test_the_plan_answers_what_the_executor_answers(
    db, pair, people, caplog, query, who, variables
):
    answer, planned = await same_answers(
        pair, caplog, query, people.get(who or ""), variables=variables
    )
    body = answer.json()
    if who is None and body.get("errors"):
        assert not planned  # an error is the executor's to report
        return
    assert not body.get("errors"), body
    assert planned, "a plain query must be answered from its plan"


async def test_a_mid_cursor_and_a_user_by_id(db, pair, people, caplog):
    first, _ = await same_answers(pair, caplog, LISTING, people["admin"], variables={"n": 2})
    cursor = first.json()["data"]["users"]["pageInfo"]["endCursor"]
    node_id = first.json()["data"]["users"]["edges"][1]["node"]["id"]
    _, planned = await same_answers(
        pair, caplog, LISTING, people["admin"], variables={"n": 2, "after": cursor}
    )
    assert planned
    answer, planned = await same_answers(
        pair, caplog, ONE, people["alice"], variables={"id": node_id}
    )
    assert planned and answer.json()["data"]["user"]["email"] is None  # alice is not them


@pytest.mark.parametrize(
    ("query", "token", "variables", "code"),
    [
        (ME, None, None, "UNAUTHENTICATED"),  # me needs a viewer
        (ME, "sgat_not-a-token", None, "UNAUTHENTICATED"),  # a bad credential
        (LISTING, "admin", {"n": 500}, "BAD_USER_INPUT"),  # beyond the bound
        (LISTING, "admin", {"n": "three"}, "BAD_USER_INPUT"),  # variables that do not coerce
        (LISTING, "admin", {"n": 2, "after": "bm90IGEgY3Vyc29y"}, "BAD_USER_INPUT"),
        (ONE, "admin", {"id": "not-an-id"}, "BAD_USER_INPUT"),
    ],
)
async def test_errors_are_the_executors_and_change_nothing(
    db, pair, people, caplog, query, token, variables, code
):
    """Whatever fails is answered by the full path, exactly as without plans."""
    answer, planned = await same_answers(
        pair, caplog, query, people.get(token or "", token), variables=variables
    )
    assert not planned
    assert [e["extensions"]["code"] for e in answer.json()["errors"]] == [code]


async def test_the_listings_loads_still_batch(db, pair, people, sql_counter):
    """Sibling resolvers are all called before any is awaited, so a DataLoader batches a
    page's privacy rows into one statement, as under the executor."""
    counts = []
    for client in (pair.plain, pair.planned, pair.planned):
        sql_counter.statements.clear()
        answer = await send(client, PRIVACY, people["admin"])
        assert len(answer.json()["data"]["users"]["edges"]) == 4
        counts.append(len(sql_counter.statements))
    assert counts[0] == counts[1] == counts[2] <= 3, counts


async def test_what_plans_do_not_cover_goes_through_the_executor(db, pair, people, caplog):
    """Directives, abstract types, introspection, mutations, GET: the executor answers."""
    for query in (
        "query A($s: Boolean!) { me { username @skip(if: $s) id } }",
        'query B { node(id: "VXNlcjox") { id ... on User { username } } }',
        "query C { __schema { queryType { name } } }",
        "query D { me { id } me { username } }",
        "query E { _service { sdl } }",  # the gateway's SDL query keeps its guard
    ):
        variables = {"s": False} if "$s" in query else None
        _, planned = await same_answers(pair, caplog, query, people["alice"], variables=variables)
        assert not planned, query
    caplog.clear()
    for _ in range(2):
        response = await pair.planned.get(
            "/graphql",
            params={"query": "{ me { id } }"},
            headers={"authorization": f"Bearer {people['alice']}"},
        )
        assert response.status_code == 200 and response.json()["data"]["me"]["id"]
    assert [line.precompiled for line in request_lines(caplog)] == [False, False]


def test_only_plain_queries_compile(settings):
    """The compiler's own verdicts, without HTTP."""
    schema = build_schema(settings)._schema
    assert compile_plan(schema, parse(ME), None) is not None
    assert compile_plan(schema, parse(WITH_FRAGMENTS), "Shaped") is not None
    assert compile_plan(schema, parse(ME), "Other") is None
    for text in (
        "mutation { logout { ok } }",
        "{ me { id @include(if: true) } }",
        '{ node(id: "x") { id } }',
        '{ __type(name: "User") { name } }',
    ):
        assert compile_plan(schema, parse(text), None) is None, text
