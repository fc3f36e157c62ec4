"""Observability (issue 14 point 6): per-operation latency with bounded labels, errors counted
by code, pool/process/outbox figures; request ids and W3C trace ids kept end to end; and every
line the real server writes (uvicorn's included) is clean JSON."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stridegraph.domain.unit import Services
from stridegraph.logs import JsonFormatter, bind_request, trace_id_from, unbind_request
from stridegraph.metrics import MAX_OPERATION_NAMES, OperationNames
from tests.conftest import (
    LiveServer,
    make_settings,
    server_env,
    start_server,
    stop_server,
)
from tests.helpers import login_token, make_user

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, None when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200
    return response.text


# --------------------------------------------------------------------------- metrics


async def test_operation_latency_by_name_and_type(
    http: httpx.AsyncClient, services: Services
) -> None:
    user = await make_user(services, "timer")
    token = await login_token(services, user)
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        await http.post("/graphql", json={"query": "query WhoAmI { me { id } }"}, headers=headers)
    await http.post("/graphql", json={"query": "{ serverSettings { signupEnabled } }"})
    await http.post(
        "/graphql",
        json={
            "query": 'mutation SignIn { login(username: "timer", password: "x") { accessToken } }'
        },
    )
    await http.post("/graphql", json={"query": "{ nope }"})  # not executed: no operation
    text = await scrape(http)
    count = "stridegraph_graphql_operation_duration_seconds_count"
    assert sample(text, count, operation="WhoAmI", type="query") == 2
    assert sample(text, count, operation="anonymous", type="query") == 1
    assert sample(text, count, operation="SignIn", type="mutation") == 1
    assert len(re.findall(rf"^{count}\{{", text, re.MULTILINE)) == 3


async def test_operation_names_beyond_the_limit_share_one_label(http: httpx.AsyncClient) -> None:
    for i in range(MAX_OPERATION_NAMES + 5):
        query = f"query Op{i} {{ serverSettings {{ signupEnabled }} }}"
        assert (await http.post("/graphql", json={"query": query})).status_code == 200
    text = await scrape(http)
    count = "stridegraph_graphql_operation_duration_seconds_count"
    assert sample(text, count, operation="Op0", type="query") == 1
    assert sample(text, count, operation=f"Op{MAX_OPERATION_NAMES - 1}", type="query") == 1
    assert sample(text, count, operation=f"Op{MAX_OPERATION_NAMES}", type="query") is None
    assert sample(text, count, operation="other", type="query") == 5
    assert len(re.findall(rf"^{count}\{{", text, re.MULTILINE)) == MAX_OPERATION_NAMES + 1


def test_operation_name_labels_are_bounded_and_valid() -> None:
    names = OperationNames(limit=2)
    assert names.label(None) == "anonymous"
    assert names.label("A") == "A" and names.label("B") == "B"
    assert names.label("C") == "other" and names.label("A") == "A"
    assert OperationNames().label("not a name") == "other"
    assert OperationNames().label("x" * 101) == "other"


async def test_errors_are_counted_by_code(http: httpx.AsyncClient) -> None:
    await http.post("/graphql", json={"query": "{ nope }"})  # validation
    await http.post("/graphql", json={"query": "{ nope } { again }"})  # two errors
    await http.post("/graphql", json={"query": "{ me { id } }"})  # anonymous me
    await http.post(
        "/graphql",
        json={"query": "{ me { id } }"},
        headers={"Authorization": "Bearer sga_" + "x" * 43},
    )
    await http.post(
        "/graphql", content=b"[1, 2", headers={"content-type": "application/json"}
    )  # not JSON: the view's own request error
    await http.post(
        "/graphql",
        content=json.dumps({"query": "{ serverSettings { signupEnabled } }" + "#" * 2_000_000}),
        headers={"content-type": "application/json"},
    )
    text = await scrape(http)
    errors = "stridegraph_graphql_errors_total"
    assert (sample(text, errors, code="GRAPHQL_VALIDATION_FAILED") or 0) >= 2
    assert sample(text, errors, code="UNAUTHENTICATED") == 2
    assert sample(text, errors, code="BAD_REQUEST") == 1
    assert sample(text, errors, code="PAYLOAD_TOO_LARGE") == 1
    counted = sum(float(v) for v in re.findall(rf"^{errors}\{{[^}}]*\}} (\S+)$", text, re.M))
    assert counted >= 6


async def test_pool_process_and_outbox_figures(http: httpx.AsyncClient) -> None:
    await http.post("/graphql", json={"query": "{ serverSettings { signupEnabled } }"})
    text = await scrape(http)
    for name in (
        "stridegraph_db_pool_checked_out",
        "stridegraph_db_pool_size",
        "stridegraph_db_pool_overflow",
        "stridegraph_mail_oldest_queued_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ):
        assert sample(text, name) is not None, name
    assert sample(text, "stridegraph_mail_outbox", state="queued") is not None
    assert "python_info{" in text
    assert "python_gc_collections_total{" in text


# --------------------------------------------------------------------------- request identity


def test_trace_ids_from_traceparent() -> None:
    assert trace_id_from(TRACEPARENT) == TRACE_ID
    assert trace_id_from(f"01-{TRACE_ID}-00f067aa0ba902b7-01-future") == TRACE_ID
    for bad in (
        None,
        "",
        f"00-{TRACE_ID}-00f067aa0ba902b7-01-extra",  # version 00 has four fields
        f"ff-{TRACE_ID}-00f067aa0ba902b7-01",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01",
        "garbage",
    ):
        assert trace_id_from(bad) is None, bad


def test_every_line_of_a_request_carries_its_ids() -> None:
    token = bind_request("gw-1", TRACE_ID)
    try:
        record = logging.makeLogRecord({"name": "stridegraph.audit", "msg": "something"})
        entry = json.loads(JsonFormatter().format(record))
    finally:
        unbind_request(token)
    assert (entry["request_id"], entry["trace_id"]) == ("gw-1", TRACE_ID)
    after = json.loads(JsonFormatter().format(logging.makeLogRecord({"msg": "later"})))
    assert "request_id" not in after and "trace_id" not in after


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("observability")
    settings = make_settings(f"sqlite+aiosqlite:///{tmp / 'db.sqlite3'}", tmp / "data")
    server = start_server(server_env(settings), Path(tmp))
    yield server
    stop_server(server)


def request_lines(server: LiveServer, request_id: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 5
    while True:
        found = [
            entry
            for entry in map(json.loads, server.log().splitlines())
            if entry.get("request_id") == request_id and entry.get("msg") == "request"
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("given", ["gw-7f3a.b_c", "0123456789abcdef0123456789abcdef", "x" * 128])
def test_a_valid_incoming_request_id_is_kept(sqlite_server: LiveServer, given: str) -> None:
    response = httpx.post(
        f"{sqlite_server.url}/graphql",
        json={"query": "{ me { id } }"},
        headers={"X-Request-Id": given, "traceparent": TRACEPARENT},
    )
    assert response.headers["x-request-id"] == given
    [line] = request_lines(sqlite_server, given)
    assert line["trace_id"] == TRACE_ID and line["status"] == 200


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "semi;colon", 'q"uote', "é"])
def test_an_invalid_request_id_is_replaced(sqlite_server: LiveServer, given: str) -> None:
    response = httpx.post(
        f"{sqlite_server.url}/graphql",
        json={"query": "{ serverSettings { signupEnabled } }"},
        headers={"X-Request-Id": given.encode(), "traceparent": "00-bogus"},
    )
    replaced = response.headers["x-request-id"]
    assert replaced != given and re.fullmatch(r"[0-9a-f]{32}", replaced)
    [line] = request_lines(sqlite_server, replaced)
    assert line["trace_id"] is None


# --------------------------------------------------------------------------- JSON lines


@pytest.mark.parametrize("workers", [1, 2])
def test_every_server_line_is_clean_json(tmp_path: Path, workers: int) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "data")
    server = start_server(server_env(settings), tmp_path, workers=workers)
    try:
        for query in ("{ serverSettings { signupEnabled } }", "{ nope }", "{ me { id } }"):
            httpx.post(f"{server.url}/graphql", json={"query": query})
        httpx.get(f"{server.url}/nowhere")
    finally:
        stop_server(server)
    raw = server.log_path.read_bytes()
    assert b"\x1b" not in raw, "ANSI colour codes in the output"
    lines = raw.decode().splitlines()
    entries = [json.loads(line) for line in lines]  # every line, or this fails
    assert all(isinstance(entry, dict) and "msg" in entry for entry in entries)
    uvicorn_lines = [e for e in entries if str(e["logger"]).startswith("uvicorn")]
    assert any("Uvicorn running on" in str(e["msg"]) for e in uvicorn_lines), lines
    assert any("Finished server process" in str(e["msg"]) for e in uvicorn_lines), lines
    requests = [e for e in entries if e.get("msg") == "request" and e["path"] != "/healthz"]
    assert [e["path"] for e in requests] == ["/graphql"] * 3 + ["/nowhere"]
    assert not any("color_message" in e for e in entries)
