"""Schema fuzzing (issue 11, point 6): no input reaches a 5xx or a masked internal error.

hypothesis-graphql generates queries and mutations over the whole schema, sent as an
anonymous viewer, a regular user and an admin, on SQLite and PostgreSQL (the ``db``
fixture), through the in-process ASGI client. The seed is fixed (``@seed``), so a run
is repeatable. Generated values include NUL, lone surrogates, huge and edge integers,
non-canonical ids, crafted cursors, out-of-range DateTimes and keyless or non-object
federation representations (custom strategies for String, Int, ID, DateTime, Date, Upload
and _Any). Documents that break the schema (``Mode.NEGATIVE``) never reach a
resolver, so they are sent on SQLite only; PostgreSQL runs the valid share of the examples. Mutations change data: each mutation example gets a fresh session token, and a
viewer a fuzzed mutation deleted or deactivated is made again. Every case the issue listed
is also sent explicitly (``test_issue_case``).

A failure is any HTTP status >= 500 or any error whose ``extensions.code`` is
``INTERNAL_SERVER_ERROR``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, queries
from sqlalchemy import select

from stridegraph.db.models import User
from stridegraph.domain.unit import Services, open_unit
from stridegraph.graph.ids import to_global_id
from stridegraph.graph.schema import build_schema
from tests.conftest import Database
from tests.helpers import PASSWORD, login_token, make_user
from tests.users_support import set_settings

# Per viewer and database (12 runs; on PostgreSQL the valid share, see test_fuzz_schema).
# STRIDEGRAPH_FUZZ_EXAMPLES and STRIDEGRAPH_FUZZ_SEED override them for a deeper or different
# local run; CI uses the fixed defaults.
EXAMPLES = int(os.environ.get("STRIDEGRAPH_FUZZ_EXAMPLES", "200"))
SEED = int(os.environ.get("STRIDEGRAPH_FUZZ_SEED", "20261202"))
VIEWERS = ("anonymous", "regular", "admin")

# --------------------------------------------------------------------------- values


def _string_node(value: str) -> graphql.StringValueNode:
    return graphql.StringValueNode(value=value)


def _cursor(payload: object) -> str:
    raw = json.dumps(payload)
    return base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode().rstrip("=")


PLAIN_TEXT = ["alice", "bob", "root", "Alice", "alice@example.com", "Graz", "t", "abc", "x.y"]
NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "\U0001f3c3",
    "ALICE@EXAMPLE.COM",
    PASSWORD,
    "profile:read",
    "users:write",
    "x" * 300,
    ".",
    "..",
    "\u212a",
    "%",
    "_",
    "'; DROP TABLE users; --",
    _cursor(["username", "a", 2**63]),
    _cursor(["created_at", "2026-01-01T00:00:00", 1]),
    _cursor(["username", "a\x00", 1]),
    _cursor(["name", "a", 1]),
    "not a cursor",
]
# Plain values are drawn more often than nasty ones (one_of weighs its branches alike), so
# that most documents get past the edge and into the resolvers.
TEXT = st.one_of(
    st.sampled_from(PLAIN_TEXT),
    st.sampled_from(PLAIN_TEXT),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20),
    st.sampled_from(NASTY_TEXT),
).map(_string_node)
INT = st.one_of(
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.sampled_from([-(2**31), -1, 101, 2**31 - 1, 2**31, 2**63, 10**30]),
).map(lambda n: graphql.IntValueNode(value=str(n)))
ID_TEXT = [
    *(to_global_id(kind, n) for kind in ("User", "Session", "ApiToken") for n in (1, 2, 3, 4)),
    base64.b64encode(b"User:01").decode(),
    base64.b64encode("User:\u00b2".encode()).decode(),
    base64.b64encode("User:\u0661".encode()).decode(),
    base64.b64encode("User:\uff11".encode()).decode(),
    base64.b64encode(b"User:9223372036854775808").decode(),
    base64.b64encode(b"User:-1").decode(),
    base64.b64encode(b"Query:1").decode(),
    "1",
    "01",
    "\u00b2",
    "VXNlcjox",
    "VXNlcjox\n",
    "!!!",
    *(to_global_id("Passkey", n) for n in (1, 2)),
]
ID = st.one_of(
    st.sampled_from(ID_TEXT).map(_string_node),
    TEXT,
    INT,
)
DATE_TIME = st.one_of(
    st.sampled_from(
        [
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "2030-01-01T00:00:00Z",
            "2030-01-01T00:00:00",
            "2000-01-01T00:00:00+00:00",
            "2026-13-01T00:00:00Z",
        ]
    ).map(_string_node),
    st.datetimes().map(lambda d: _string_node(d.isoformat())),
    TEXT,
    INT,
)
DATE = st.one_of(
    st.sampled_from(["0001-01-01", "9999-12-31", "1990-02-28", "2026-02-30"]).map(_string_node),
    st.dates().map(lambda d: _string_node(d.isoformat())),
    TEXT,
)
UPLOAD = st.one_of(TEXT, INT, st.just(graphql.NullValueNode()))


def _object(fields: dict[str, graphql.ValueNode]) -> graphql.ObjectValueNode:
    return graphql.ObjectValueNode(
        fields=tuple(
            graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v)
            for k, v in fields.items()
        )
    )


REPRESENTATION = st.one_of(
    st.builds(
        lambda typename, key: _object(
            {
                **({"__typename": typename} if typename is not None else {}),
                **({"id": key} if key is not None else {}),
            }
        ),
        st.one_of(
            st.none(), st.sampled_from(["User", "UserMe", "Query", "Nope"]).map(_string_node), INT
        ),
        st.one_of(st.none(), ID),
    ),
    TEXT,
    INT,
    st.just(graphql.ListValueNode(values=())),
)
_CLIENT_DATA = [
    base64.urlsafe_b64encode(
        b'{"type":"webauthn.get","challenge":"AAAA","origin":"http://testserver"}'
    ).decode(),
    base64.urlsafe_b64encode(b'{"type":"webauthn.create","challenge":7}').decode(),
    "AAAA",
]
B64_TEXT = st.one_of(st.sampled_from(_CLIENT_DATA).map(_string_node), TEXT)
# A passkey credential's shape (PublicKeyCredential.toJSON()), with every part fuzzed, so
# documents get past the shape checks into the challenge lookup and verification.
CREDENTIAL = st.builds(
    lambda cid, kind, client_data, blob, signature: _object(
        {
            "id": cid,
            "rawId": cid,
            "type": kind,
            "response": _object(
                {
                    "clientDataJSON": client_data,
                    "attestationObject": blob,
                    "authenticatorData": blob,
                    "signature": signature,
                }
            ),
        }
    ),
    B64_TEXT,
    st.one_of(st.just(_string_node("public-key")), TEXT),
    B64_TEXT,
    B64_TEXT,
    st.one_of(B64_TEXT, INT),
)
JSON_VALUE = st.one_of(
    CREDENTIAL,
    CREDENTIAL,
    TEXT,
    INT,
    st.just(graphql.NullValueNode()),
    st.just(graphql.ListValueNode(values=())),
    st.just(_object({})),
)
SCALARS = {
    "String": TEXT,
    "Int": INT,
    "ID": ID,
    "DateTime": DATE_TIME,
    "Date": DATE,
    "Upload": UPLOAD,
    "_Any": REPRESENTATION,
    "JSON": JSON_VALUE,
}

# --------------------------------------------------------------------------- checks


def problems(response: httpx.Response) -> list[str]:
    """What is wrong with a response: a 5xx, or a masked internal error."""
    found = []
    if response.status_code >= 500:
        found.append(f"HTTP {response.status_code}: {response.text[:500]}")
    try:
        body = response.json()
    except ValueError:
        return [*found, f"not JSON (HTTP {response.status_code}): {response.text[:200]}"]
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors or []:
        if (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR":
            found.append(f"INTERNAL_SERVER_ERROR at {error.get('path')}")
    return found


@dataclass
class World:
    """The fuzzing viewers, re-made when a fuzzed mutation deleted or deactivated one."""

    services: Services
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    made: int = 0

    async def arrange(self, db: Database) -> None:
        await set_settings(db, public_profiles=True, signup_enabled=True)
        await self.make("regular")
        await self.make("admin")
        await make_user(self.services, "bob")
        await make_user(self.services, "pending", pending_admin_approval=True)

    async def make(self, viewer: str) -> None:
        self.made += 1
        user = await make_user(self.services, f"fuzz{viewer}{self.made}", admin=viewer == "admin")
        self.users[viewer] = user.id
        self.tokens[viewer] = await login_token(self.services, user)

    async def token(self, viewer: str, *, fresh: bool) -> str | None:
        if viewer == "anonymous":
            return None
        if fresh:
            async with open_unit(self.services) as unit:
                row = await unit.session.scalar(select(User).where(User.id == self.users[viewer]))
            if row is None or not row.active or row.access_type.value != viewer.upper():
                await self.make(viewer)
            else:
                self.tokens[viewer] = await login_token(self.services, row)
        return self.tokens[viewer]


async def post_json(
    http: httpx.AsyncClient, payload: object, headers: dict[str, str]
) -> httpx.Response:
    """POST a JSON body, escaped to ASCII so that lone surrogates travel as ``\\udXXX``
    (httpx's own encoder cannot write them)."""
    return await http.post(
        "/graphql",
        content=json.dumps(payload).encode(),
        headers={**headers, "content-type": "application/json"},
    )


def run_fuzz(
    strategy: st.SearchStrategy[str],
    examples: int,
    send: Callable[[str], Awaitable[list[str]]],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Hypothesis drives a sync function (in a worker thread); each example's request runs
    on the test's event loop, where the app and its database engines live."""

    @seed(SEED)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(document=strategy)
    def check(document: str) -> None:
        found = asyncio.run_coroutine_threadsafe(send(document), loop).result(timeout=120)
        assert not found, f"{found}\n--- document:\n{document}"

    check()


def mutations_for(viewer: str) -> list[str]:
    """The root mutations ``viewer`` may call at all (read from their permission classes)."""
    from strawberry.permission import PermissionExtension

    from stridegraph.graph.errors import camel
    from stridegraph.graph.permissions import IsAdmin, SignedIn
    from stridegraph.graph.schema import Mutation

    names = []
    for f in Mutation.__strawberry_definition__.fields:  # type: ignore[union-attr]
        needs = {
            type(p)
            for e in f.extensions
            if isinstance(e, PermissionExtension)
            for p in e.permissions
        }
        if viewer == "admin" or (
            IsAdmin not in needs and (viewer != "anonymous" or SignedIn not in needs)
        ):
            names.append(f.graphql_name or str(camel(f.python_name)))
    return names


@pytest.fixture(scope="module")
def graphql_schema() -> graphql.GraphQLSchema:
    from tests.conftest import make_settings

    return build_schema(
        make_settings("sqlite+aiosqlite://", __import__("pathlib").Path("."))
    )._schema


@pytest.mark.parametrize("kind", ["query", "mutation"])
@pytest.mark.parametrize("viewer", VIEWERS)
async def test_fuzz_schema(
    db: Database,
    services: Services,
    http: httpx.AsyncClient,
    graphql_schema: graphql.GraphQLSchema,
    viewer: str,
    kind: str,
) -> None:
    world = World(services)
    await world.arrange(db)
    if kind == "query":
        # Mostly valid documents; one in three breaks the schema once (Mode.NEGATIVE).
        valid = queries(graphql_schema, custom_scalars=SCALARS, codec=None)
        invalid = queries(graphql_schema, custom_scalars=SCALARS, mode=Mode.NEGATIVE)
        branches = [valid, valid]
    else:
        # The whole schema, twice as often the mutations this viewer may call (one refused
        # mutation ends a document's execution, so they would rarely be reached), and
        # documents that break the schema once.
        whole = mutations(graphql_schema, custom_scalars=SCALARS, codec=None)
        allowed = mutations(
            graphql_schema, fields=mutations_for(viewer), custom_scalars=SCALARS, codec=None
        )
        invalid = mutations(graphql_schema, custom_scalars=SCALARS, mode=Mode.NEGATIVE)
        branches = [whole, allowed, allowed]
    examples = EXAMPLES
    if db.backend == "sqlite":
        branches.append(invalid)
    else:
        # A document that breaks the schema fails validation before any resolver, so what
        # it gets back does not depend on the database: those are sent on SQLite only, and
        # PostgreSQL runs the valid share of the examples (same seed, same valid strategies).
        examples = EXAMPLES * len(branches) // (len(branches) + 1)
    strategy = st.one_of(*branches)

    async def send(document: str) -> list[str]:
        token = await world.token(viewer, fresh=kind == "mutation")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return problems(await post_json(http, {"query": document}, headers))

    await asyncio.to_thread(run_fuzz, strategy, examples, send, asyncio.get_running_loop())


# --------------------------------------------------------------------------- the issue's list


def _gid(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id } } }"
UPLOAD_MUTATION = "mutation($f: Upload!) { uploadMyPhoto(file: $f) { errors { code } } }"
TOKEN_MUTATION = (
    'mutation($e: DateTime) { createApiToken(name: "t", scopes: ["profile:read"], expiresAt: $e)'
    " { errors { code } } }"
)
DEEP = "[" * 200_000 + "]" * 200_000


@dataclass(frozen=True)
class Case:
    viewer: str
    json: Any = None
    content: bytes | None = None
    multipart: tuple[str, str] | None = None
    refused: bool = True  # a top-level BAD_USER_INPUT / BAD_REQUEST (else: payload data)


def _q(
    query: str, variables: dict[str, Any] | None = None, viewer: str = "regular", **kw: Any
) -> Case:
    return Case(viewer, json={"query": query, "variables": variables or {}}, **kw)


ISSUE_CASES: dict[str, Case] = {
    "me-and-users-first-minus-1": _q("{ me { id } users(first: -1) { totalCount } }"),
    "sibling-sql-cancelled": _q(
        '{ me { id privacySettings { hideActivityHr } } users(after: "bad") { totalCount } }'
    ),
    "user-superscript-two": _q(
        "query($i: ID!) { user(id: $i) { id } }", {"i": _gid("User:\u00b2")}
    ),
    "user-arabic-one": _q("query($i: ID!) { node(id: $i) { id } }", {"i": _gid("User:\u0661")}),
    "user-fullwidth-one": _q("query($i: ID!) { user(id: $i) { id } }", {"i": _gid("User:\uff11")}),
    "user-leading-zero": _q("query($i: ID!) { user(id: $i) { id } }", {"i": _gid("User:01")}),
    "cursor-naive-datetime": _q(
        "query($c: String) { users(orderBy: {field: CREATED_AT}, after: $c) { totalCount } }",
        {"c": _cursor(["created_at", "2026-01-01T00:00:00", 1])},
    ),
    "cursor-2^63": _q(
        "query($c: String) { users(after: $c) { totalCount } }",
        {"c": _cursor(["username", "a", 2**63])},
    ),
    "cursor-nul": _q(
        "query($c: String) { users(before: $c) { totalCount } }",
        {"c": _cursor(["username", "a\x00", 1])},
    ),
    "expires-at-overflow": _q(TOKEN_MUTATION, {"e": "9999-12-31T23:59:59-14:00"}),
    "surrogate-in-string": _q(
        "query($u: String!) { userByUsername(username: $u) { id } }", {"u": "\ud800"}
    ),
    "nul-in-city": _q(
        "mutation($i: UpdateMeInput!) { updateMe(input: $i) { errors { code } } }",
        {"i": {"city": "a\x00b"}},
    ),
    "nul-anonymous-login": _q(
        'mutation($u: String!) { login(username: $u, password: "x") { errors { code } } }',
        {"u": "alice\x00"},
        viewer="anonymous",
    ),
    "nul-escaped-in-literal": _q('{ userByUsername(username: "a\\u0000") { id } }'),
    "entities-non-object": _q(ENTITIES, {"r": [1, "x"]}),
    "entities-keyless": _q(ENTITIES, {"r": [{"__typename": "User"}]}),
    "entities-unknown-type": _q(ENTITIES, {"r": [{"__typename": "Nope", "id": "x"}]}),
    "body-123": Case("anonymous", content=b"123"),
    "body-list": Case("anonymous", content=b"[]"),
    "body-string": Case("anonymous", content=b'"x"'),
    "body-query-int": Case("anonymous", content=b'{"query": 5}'),
    "variables-not-object": Case(
        "anonymous", content=b'{"query": "{ __typename }", "variables": 1}'
    ),
    "variables-200k-deep": Case(
        "anonymous",
        content=(
            '{"query": "query($v: String) { __typename }", "variables": {"v": ' + DEEP + "}}"
        ).encode(),
    ),
    "multipart-map-not-object": Case(
        "regular",
        multipart=(json.dumps({"query": UPLOAD_MUTATION, "variables": {"f": None}}), "[1]"),
    ),
    "multipart-map-bad-path": Case(
        "regular",
        multipart=(
            json.dumps({"query": UPLOAD_MUTATION, "variables": {"f": None}}),
            '{"0": ["variables.f.x.y"]}',
        ),
    ),
    "multipart-operations-not-object": Case("regular", multipart=("5", '{"0": ["variables.f"]}')),
    "two-mutations-first-rolls-back": _q(
        'mutation { a: deleteUser(id: "VXNlcjo5OTk5") { errors { code } }'
        " b: updatePrivacySettings(input: {hideActivityHr: true}) { errors { code } } }",
        viewer="admin",
        refused=False,
    ),
    "upload-as-string-literal": _q(
        'mutation { uploadMyPhoto(file: "x") { errors { code } } }', refused=False
    ),
    # OpenID Connect (issue 17): forged states and codes, odd provider URLs
    "external-login-forged-state": _q(
        "mutation($s: String!) { finishExternalLogin(code: $s, state: $s) { errors { code } } }",
        {"s": "sgs_" + "\u00e9" * 60},
        viewer="anonymous",
        refused=False,
    ),
    "external-login-huge-code": _q(
        'mutation($c: String!) { finishExternalLogin(code: $c, state: "sgs_x") '
        "{ errors { code } } }",
        {"c": "c" * 100_000},
        viewer="anonymous",
        refused=False,
    ),
    "external-login-unknown-provider": _q(
        'mutation($p: ID!) { startExternalLogin(provider: $p, redirectUri: "x:/") '
        "{ errors { code } } }",
        {"p": _gid("IdentityProvider:99999999999999999999")},
        viewer="anonymous",
        refused=False,
    ),
    "identity-provider-bad-ipv6-issuer": _q(
        "mutation($i: CreateIdentityProviderInput!) { createIdentityProvider(input: $i) "
        "{ errors { code } } }",
        {
            "i": {
                "slug": "v6",
                "name": "V6",
                "issuer": "http://[::1",
                "clientId": "c",
                "clientSecret": "s",
                "iconUrl": "https://x:99999/",
                "allowedDomains": ["\u00e9.example"],
            }
        },
        viewer="admin",
        refused=False,
    ),
    # security history (issue 18): crafted keyset cursors and filter ids
    "event-cursor-2^63": _q(
        "query($c: String) { mySecurityEvents(after: $c) { edges { cursor } } }",
        {"c": _cursor(["2026-01-01T00:00:00+00:00", 2**63])},
    ),
    "event-cursor-naive-datetime": _q(
        "query($c: String) { mySecurityEvents(after: $c) { edges { cursor } } }",
        {"c": _cursor(["2026-01-01T00:00:00", 1])},
    ),
    "event-cursor-year-0": _q(
        "query($c: String) { auditEvents(after: $c) { edges { cursor } } }",
        {"c": _cursor(["0000-01-01T00:00:00+00:00", 1])},
        viewer="admin",
    ),
    "audit-filter-not-a-user-id": _q(
        "query($a: ID) { auditEvents(filter: {actor: $a}) { edges { cursor } } }",
        {"a": _gid("Session:1")},
        viewer="admin",
    ),
    "events-first-101": _q("{ mySecurityEvents(first: 101) { edges { cursor } } }"),
}


@pytest.mark.parametrize("case", list(ISSUE_CASES))
async def test_issue_case(
    db: Database, services: Services, http: httpx.AsyncClient, case: str
) -> None:
    world = World(services)
    await world.arrange(db)
    spec = ISSUE_CASES[case]
    token = await world.token(spec.viewer, fresh=False)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if spec.multipart is not None:
        operations, mapping = spec.multipart
        response = await http.post(
            "/graphql",
            data={"operations": operations, "map": mapping},
            files={"0": ("a.png", b"not an image", "image/png")},
            headers={**headers, "Apollo-Require-Preflight": "true"},
        )
    elif spec.content is not None:
        response = await http.post(
            "/graphql",
            content=spec.content,
            headers={**headers, "content-type": "application/json"},
        )
    else:
        response = await post_json(http, spec.json, headers)
    assert not problems(response), problems(response)
    errors = response.json().get("errors") or []
    codes = {(e.get("extensions") or {}).get("code") for e in errors}
    if spec.refused:
        assert codes & {"BAD_USER_INPUT", "BAD_REQUEST"}, errors
    else:
        assert not errors, errors
