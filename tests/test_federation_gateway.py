"""stridegraph behind a real Apollo gateway (issue 14, point 4).

One stridegraph under uvicorn (introspection off, a gateway secret), the workouts subgraph of
``tests/node_federation/workouts.mjs`` (``@apollo/subgraph``: it extends ``User`` with
``workouts``) and ``@apollo/gateway`` with ``IntrospectAndCompose`` joining them
(``gateway.mjs``, which forwards ``Authorization``), all on free ports and shared by the
module's tests. The queries go through the gateway; what a viewer sees of the users behind
the workouts is stridegraph's decision, made in ``_entities`` with the permissions of
``user(id:)``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI, LiveServer, free_port, make_settings, server_env, start_server
from tests.conftest import stop_server as stop_stridegraph
from tests.scale_support import ADMIN_PASSWORD, PASSWORD, Client
from tests.test_config import run_cli
from tests.test_entities import clean_log

pytestmark = pytest.mark.slow

NODE_PROJECT = Path(__file__).parent / "node_federation"
GATEWAY_SECRET = "federation-test-gateway-secret"

CREATE_USER = """mutation($input: CreateUserInput!) { createUser(input: $input) {
  user { id } errors { code } } }"""
SET_PUBLIC_PROFILES = """mutation($on: Boolean!) { updateServerSettings(input: {publicProfiles: $on})
  { errors { code } } }"""
WORKOUTS = "{ workouts { id title user { id username name email active } } }"
USER_WORKOUTS = """query($id: ID!) { user(id: $id) { username email
  workouts { id title user { username } } } }"""


def node_or_skip() -> str:
    """The node binary with the project's packages installed; under CI=true their absence
    fails the run (``.ci/run`` installs them)."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node 20 or later is required"
    elif not (NODE_PROJECT / "node_modules").is_dir():
        problem = f"run `npm ci` in {NODE_PROJECT} (.ci/run does)"
    if problem is not None:
        if IN_CI:
            pytest.fail(f"{problem} under CI=true")
        pytest.skip(problem)
    assert node is not None
    return node


@dataclass
class NodeProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_node(node: str, script: str, env: dict[str, str], log_path: Path) -> NodeProcess:
    """Run ``script`` of the node project and wait for the JSON line saying it is ready."""
    process = subprocess.Popen(
        [node, script],
        cwd=NODE_PROJECT,
        env={**os.environ, "NODE_ENV": "production", **env},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    started = NodeProcess(process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ' ready"' in started.log():
            return started
        if process.poll() is not None:
            break
        time.sleep(0.1)
    started.stop()
    raise RuntimeError(f"{script} did not start:\n{started.log()}")


@dataclass
class Federation:
    stridegraph: LiveServer
    workouts: NodeProcess
    gateway: NodeProcess
    gateway_url: str
    users: dict[str, str]  # username -> global id
    tokens: dict[str, str]  # username -> access token (the active users)


async def arrange_users(url: str, env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """An admin from the CLI, then through stridegraph itself two regular users and an
    inactive one; their ids and the active ones' access tokens."""
    created = run_cli(
        "create-admin",
        "--username",
        "root",
        "--email",
        "root@example.com",
        "--name",
        "Root",
        "--password-stdin",
        env=env,
        stdin=ADMIN_PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    client = Client(url)
    try:
        tokens = {"root": await client.token("root", ADMIN_PASSWORD)}
        me = await client.data("{ me { id } }", token=tokens["root"])
        ids = {"root": me["me"]["id"]}
        for username, active in (("alice", True), ("bob", True), ("carol", False)):
            form = {
                "username": username,
                "email": f"{username}@example.com",
                "name": username.title(),
                "password": PASSWORD,
                "active": active,
            }
            made = await client.data(CREATE_USER, {"input": form}, token=tokens["root"])
            assert made["createUser"]["errors"] == [], made
            ids[username] = made["createUser"]["user"]["id"]
            if active:
                tokens[username] = await client.token(username, PASSWORD)
    finally:
        await client.close()
    return ids, tokens


@pytest.fixture(scope="module")
def node() -> str:
    return node_or_skip()


@pytest.fixture(scope="module")
async def fed(node: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Federation]:
    """The three servers for the whole module; at the end, stridegraph's log must be clean
    JSON with no error in it."""
    tmp = tmp_path_factory.mktemp("federation")
    settings = make_settings(f"sqlite+aiosqlite:///{tmp / 'fed.sqlite3'}", tmp / "data")
    env = server_env(
        settings,
        STRIDEGRAPH_INTROSPECTION="false",
        STRIDEGRAPH_GATEWAY_SECRET=GATEWAY_SECRET,
        STRIDEGRAPH_TRUSTED_PROXIES="127.0.0.1/32",  # the gateway
    )
    stridegraph = start_server(env, tmp)
    processes: list[NodeProcess] = []
    try:
        users, tokens = await arrange_users(stridegraph.url, env)
        workouts = [
            {"id": f"w{i}", "title": f"{owner}'s workout {i}", "userId": users[owner]}
            for i, owner in enumerate(("alice", "alice", "bob", "carol", "root"), start=1)
        ]
        workouts_port, gateway_port = free_port(), free_port()
        processes.append(
            start_node(
                node,
                "workouts.mjs",
                {"PORT": str(workouts_port), "WORKOUTS": json.dumps(workouts)},
                tmp / "workouts.log",
            )
        )
        processes.append(
            start_node(
                node,
                "gateway.mjs",
                {
                    "PORT": str(gateway_port),
                    "ACCOUNTS_URL": f"{stridegraph.url}/graphql",
                    "WORKOUTS_URL": f"http://127.0.0.1:{workouts_port}/",
                    "GATEWAY_SECRET": GATEWAY_SECRET,
                },
                tmp / "gateway.log",
            )
        )
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        yield Federation(stridegraph, *processes, gateway_url, users, tokens)
    finally:
        for process in processes:
            process.stop()
        stop_stridegraph(stridegraph)
    clean_log(stridegraph.log())


@pytest.fixture(scope="module")
def tokens(fed: Federation) -> dict[str, str]:
    return fed.tokens


@pytest.fixture
async def gateway(fed: Federation) -> AsyncIterator[Client]:
    client = Client(fed.gateway_url)
    yield client
    await client.close()


async def public_profiles(gateway: Client, tokens: dict[str, str], on: bool) -> None:
    """The server setting, changed by the admin through the gateway (a mutation forwarded
    with its Authorization)."""
    changed = await gateway.data(SET_PUBLIC_PROFILES, {"on": on}, token=tokens["root"])
    assert changed["updateServerSettings"]["errors"] == []


def users_of_workouts(body: dict[str, Any]) -> dict[str, Any]:
    """Workout id -> its user as the gateway returned it."""
    return {w["id"]: w["user"] for w in body["data"]["workouts"]}


def codes(body: dict[str, Any]) -> set[str]:
    return {e["extensions"]["code"] for e in body.get("errors", [])}


def public(fed: Federation, username: str) -> dict[str, Any]:
    """A user as a viewer who may not read private fields sees them."""
    return {
        "id": fed.users[username],
        "username": username,
        "name": username.title(),
        "email": None,
        "active": None,
    }


def private(fed: Federation, username: str, active: bool = True) -> dict[str, Any]:
    """A user as they themself or an admin sees them."""
    return {**public(fed, username), "email": f"{username}@example.com", "active": active}


def test_the_gateway_composed_without_hints_and_with_the_secret(fed: Federation) -> None:
    composed = [json.loads(line) for line in fed.gateway.log().splitlines() if '"composed"' in line]
    assert composed == [{"msg": "composed", "hints": []}]
    # stridegraph's SDL is guarded here: the gateway only composed because it sent the secret
    refused = httpx.post(f"{fed.stridegraph.url}/graphql", json={"query": "{ _service { sdl } }"})
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_anonymous_without_public_profiles_sees_workouts_but_no_user(
    gateway: Client, tokens: dict[str, str]
) -> None:
    await public_profiles(gateway, tokens, False)
    body = await gateway.execute(WORKOUTS)
    assert set(users_of_workouts(body).values()) == {None}
    assert len(body["data"]["workouts"]) == 5
    assert codes(body) == {"UNAUTHENTICATED"}
    assert {e["extensions"].get("serviceName") for e in body["errors"]} == {"accounts"}


async def test_anonymous_with_public_profiles_sees_public_fields_of_active_users(
    fed: Federation, gateway: Client, tokens: dict[str, str]
) -> None:
    await public_profiles(gateway, tokens, True)
    try:
        body = await gateway.execute(WORKOUTS)
    finally:
        await public_profiles(gateway, tokens, False)
    assert "errors" not in body, body
    assert users_of_workouts(body) == {
        "w1": public(fed, "alice"),
        "w2": public(fed, "alice"),
        "w3": public(fed, "bob"),
        "w4": None,  # carol is inactive: hidden, without an error
        "w5": public(fed, "root"),
    }


async def test_a_regular_user_reads_their_own_private_fields_only(
    fed: Federation, gateway: Client, tokens: dict[str, str]
) -> None:
    await public_profiles(gateway, tokens, False)
    body = await gateway.execute(WORKOUTS, token=tokens["alice"])
    assert "errors" not in body, body
    assert users_of_workouts(body) == {
        "w1": private(fed, "alice"),
        "w2": private(fed, "alice"),
        "w3": public(fed, "bob"),
        "w4": None,
        "w5": public(fed, "root"),
    }


async def test_an_admin_reads_every_user_in_full(
    fed: Federation, gateway: Client, tokens: dict[str, str]
) -> None:
    body = await gateway.execute(WORKOUTS, token=tokens["root"])
    assert "errors" not in body, body
    assert users_of_workouts(body) == {
        "w1": private(fed, "alice"),
        "w2": private(fed, "alice"),
        "w3": private(fed, "bob"),
        "w4": private(fed, "carol", active=False),
        "w5": private(fed, "root"),
    }


async def test_a_user_is_resolved_into_the_workouts_subgraph(
    fed: Federation, gateway: Client, tokens: dict[str, str]
) -> None:
    body = await gateway.data(USER_WORKOUTS, {"id": fed.users["alice"]}, token=tokens["bob"])
    assert body["user"] == {
        "username": "alice",
        "email": None,
        "workouts": [
            {"id": "w1", "title": "alice's workout 1", "user": {"username": "alice"}},
            {"id": "w2", "title": "alice's workout 2", "user": {"username": "alice"}},
        ],
    }


async def test_a_listing_is_resolved_into_the_workouts_subgraph_in_one_go(
    gateway: Client, tokens: dict[str, str]
) -> None:
    listing = """{ users(orderBy: {field: USERNAME, direction: ASC}) { nodes { username
      workouts { id } } } }"""
    body = await gateway.data(listing, token=tokens["root"])
    assert body["users"]["nodes"] == [
        {"username": "alice", "workouts": [{"id": "w1"}, {"id": "w2"}]},
        {"username": "bob", "workouts": [{"id": "w3"}]},
        {"username": "carol", "workouts": [{"id": "w4"}]},
        {"username": "root", "workouts": [{"id": "w5"}]},
    ]


@pytest.mark.parametrize("query", [WORKOUTS, USER_WORKOUTS], ids=["workouts", "user"])
async def test_a_bad_token_is_unauthenticated_and_leaks_nothing(
    fed: Federation, query: str
) -> None:
    bad = "sga_" + "x" * 43
    response = httpx.post(
        f"{fed.gateway_url}/graphql",
        json={"query": query, "variables": {"id": fed.users["alice"]}},
        headers={"Authorization": f"Bearer {bad}"},
    )
    assert response.status_code == 200
    body = response.json()
    assert codes(body) == {"UNAUTHENTICATED"}
    if query == WORKOUTS:  # the workouts subgraph answers; no user is given away
        assert set(users_of_workouts(body).values()) == {None}
    else:
        assert body["data"] == {"user": None}
    for error in body["errors"]:
        assert error["message"] == "The token is invalid, expired or revoked."
        # the contract's reason (TOKEN_INVALID here) is all a client learns of the failure
        assert set(error["extensions"]) <= {"code", "reason", "serviceName"}, error
        assert error["extensions"].get("reason") in (None, "TOKEN_INVALID"), error
    for secret in (bad, GATEWAY_SECRET, "Traceback", "stacktrace", "@example.com"):
        assert secret not in response.text


async def test_stridegraph_sees_the_client_address_behind_the_gateway(fed: Federation) -> None:
    """The gateway appends its client to X-Forwarded-For; stridegraph, trusting the gateway,
    logs (and rate-limits) that client. Here a load balancer in front of the gateway has
    named the client 203.0.113.7; the gateway's own peer is the loopback test client."""
    response = httpx.post(
        f"{fed.gateway_url}/graphql",
        json={"query": "query Behind { workouts { user { username } } }"},
        headers={"X-Forwarded-For": "203.0.113.7"},
    )
    assert response.status_code == 200
    fetches = [
        json.loads(line)
        for line in fed.stridegraph.log().splitlines()
        if '"Behind__accounts__' in line
    ]
    assert fetches and {f["client"] for f in fetches} == {"203.0.113.7"}, fetches
