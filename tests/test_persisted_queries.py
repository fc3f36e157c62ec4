"""Automatic persisted queries, Apollo's protocol (issue 14, point 2).

The real ``@apollo/client`` 4 with its ``PersistedQueryLink`` (hashed queries over GET)
talks to the real server: its first query misses and registers, its second is hash-only, and
after a server restart the same client falls back and registers again. What the server got
is read from its request log (``persisted_query``: ``hash_only`` for a miss, ``hit``,
``registered``). The protocol's edges (not found, mismatch, GET, mutations, off, the bound)
are checked through the ASGI app.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from stridegraph.app import create_app
from stridegraph.config import Settings
from stridegraph.graph.persisted import MAX_STORED_CHARACTERS, PersistedQueries
from tests.conftest import LiveServer, server_env, start_server, stop_server
from tests.node_http_support import node_project

QUERY = "{ serverSettings { signupEnabled } }"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(text: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256(text)}}


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


def persisted_log(server: LiveServer) -> list[tuple[str, int, str | None]]:
    """(method, status, persisted_query) of each GraphQL request the server logged."""
    entries = []
    for line in server.log().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == "request" and entry.get("path") == "/graphql":
            entries.append((entry["method"], entry["status"], entry.get("persisted_query")))
    return entries


class ApolloClientProcess:
    """``tests/node_http/apollo_apq.mjs``: one Apollo Client, commands on stdin."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            ["node", "apollo_apq.mjs"],
            cwd=node_project(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def send(self, line: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, self.process.stderr.read() if self.process.stderr else "node exited"
        return json.loads(answer)  # type: ignore[no-any-return]

    def query(self) -> dict[str, Any]:
        result = self.send("query")
        assert result["error"] is None, result
        return result["data"]  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def wait_for_log(server: LiveServer, count: int) -> list[tuple[str, int, str | None]]:
    """The request log line is written after the response: give it a moment."""
    deadline = time.monotonic() + 5
    entries = persisted_log(server)
    while len(entries) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        entries = persisted_log(server)
    return entries


@pytest.mark.slow
def test_apollo_client_registers_then_sends_hashes_and_survives_a_restart(
    settings: Settings, tmp_path: Path
) -> None:
    client = ApolloClientProcess()
    first = start_server(server_env(settings), tmp_path)
    try:
        assert client.send(f"url {first.url}/graphql") == {"ok": True}
        expected = {"serverSettings": {"__typename": "ServerSettings", "signupEnabled": False}}
        assert client.query() == expected
        # the hash alone over GET: not found, so the link sends the query (POST) to register
        assert wait_for_log(first, 2) == [
            ("GET", 200, "hash_only"),
            ("POST", 200, "registered"),
        ]
        assert client.query() == expected
        assert wait_for_log(first, 3)[2:] == [("GET", 200, "hit")]  # hash-only, found
    finally:
        stop_server(first)
    second = start_server(server_env(settings), tmp_path)  # a fresh worker: an empty store
    try:
        assert client.send(f"url {second.url}/graphql") == {"ok": True}
        assert client.query() == expected
        assert client.query() == expected
        assert wait_for_log(second, 3) == [
            ("GET", 200, "hash_only"),
            ("POST", 200, "registered"),
            ("GET", 200, "hit"),
        ]
    finally:
        stop_server(second)
        client.close()


async def test_an_unknown_hash_is_not_found_uncached(http: httpx.AsyncClient) -> None:
    for accept in ("application/json", "application/graphql-response+json"):
        response = await http.post(
            "/graphql", json={"extensions": persisted(QUERY)}, headers={"accept": accept}
        )
        assert response.status_code == 200, response.text
        assert codes(response) == ["PERSISTED_QUERY_NOT_FOUND"]
        assert "data" not in response.json()
        assert "no-cache" in response.headers["cache-control"]


async def test_a_registered_query_runs_from_its_hash_by_post_and_get(
    http: httpx.AsyncClient,
) -> None:
    registered = await http.post("/graphql", json={"query": QUERY, "extensions": persisted(QUERY)})
    assert registered.json() == {"data": {"serverSettings": {"signupEnabled": False}}}
    by_post = await http.post("/graphql", json={"extensions": persisted(QUERY)})
    assert by_post.json() == registered.json()
    by_get = await http.get(
        "/graphql",
        params={"extensions": json.dumps(persisted(QUERY))},
        headers={"accept": "application/json"},
    )
    assert by_get.status_code == 200 and by_get.json() == registered.json()


async def test_the_hash_is_checked_on_registration(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", json={"query": QUERY, "extensions": persisted("{ __typename }")}
    )
    assert response.status_code == 400
    assert codes(response) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    # nothing was registered under either hash
    for text in (QUERY, "{ __typename }"):
        missing = await http.post("/graphql", json={"extensions": persisted(text)})
        assert codes(missing) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(
    "extension",
    [
        {"persistedQuery": {"version": 2, "sha256Hash": sha256(QUERY)}},
        {"persistedQuery": {"version": 1, "sha256Hash": "abc"}},
        {"persistedQuery": {"version": 1, "sha256Hash": 5}},
        {"persistedQuery": "yes"},
    ],
)
async def test_a_malformed_persisted_query_is_a_bad_request(
    http: httpx.AsyncClient, extension: dict[str, Any]
) -> None:
    response = await http.post("/graphql", json={"query": QUERY, "extensions": extension})
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


async def test_a_mutation_runs_from_its_hash_by_post_only(http: httpx.AsyncClient) -> None:
    mutation = "mutation { logout { errors { code } } }"
    registered = await http.post(
        "/graphql", json={"query": mutation, "extensions": persisted(mutation)}
    )
    assert registered.status_code == 200 and "errors" in registered.json()  # not signed in
    by_get = await http.get(
        "/graphql",
        params={"extensions": json.dumps(persisted(mutation))},
        headers={"accept": "application/json"},
    )
    assert by_get.status_code == 405 and by_get.headers["allow"] == "POST"
    assert codes(by_get) == ["METHOD_NOT_ALLOWED"]


async def test_turned_off_it_is_not_supported(settings: Settings, services: Any) -> None:
    app = create_app(settings.with_(persisted_queries=False), services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for body in (
            {"extensions": persisted(QUERY)},
            {"query": QUERY, "extensions": persisted(QUERY)},
        ):
            response = await client.post("/graphql", json=body)
            assert response.status_code == 200
            assert codes(response) == ["PERSISTED_QUERY_NOT_SUPPORTED"]
        plain = await client.post("/graphql", json={"query": QUERY})
        assert plain.json() == {"data": {"serverSettings": {"signupEnabled": False}}}


def test_the_store_is_bounded_by_count_and_by_size() -> None:
    store = PersistedQueries(enabled=True, size=3)
    texts = [f"{{ a{i}: __typename }}" for i in range(5)]
    for text in texts:
        store.resolve(text, persisted(text))
    assert len(store) == 3
    assert store.resolve(None, persisted(texts[4])) == (texts[4], "hit")
    with pytest.raises(Exception, match="PersistedQueryNotFound"):
        store.resolve(None, persisted(texts[0]))  # the least recently used went first
    big = "#" + "x" * (MAX_STORED_CHARACTERS // 2) + "\n{ __typename }"
    bigger = "#" + "y" * (MAX_STORED_CHARACTERS // 2) + "\n{ __typename }"
    store.resolve(big, persisted(big))
    store.resolve(bigger, persisted(bigger))
    assert store.resolve(None, persisted(bigger))[1] == "hit"
    with pytest.raises(Exception, match="PersistedQueryNotFound"):
        store.resolve(None, persisted(big))  # evicted to keep the characters bounded
    huge = "#" + "z" * MAX_STORED_CHARACTERS + "\n{ __typename }"
    assert store.resolve(huge, persisted(huge)) == (huge, "registered")  # runs, not kept
    with pytest.raises(Exception, match="PersistedQueryNotFound"):
        store.resolve(None, persisted(huge))
