"""A client that goes away mid-request is not a server error (issue 12 point 6): the real
server logs ``client_disconnected`` at info level, and neither its log nor its metrics show
a 500."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import httpx

from tests.conftest import LiveServer


def _leave_mid_body(server: LiveServer) -> None:
    """Send the headers and part of a declared body, then hang up."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"query": "{ __typename'
        )
        time.sleep(0.2)  # the server is now reading the body


def _log_lines(server: LiveServer) -> list[dict]:
    lines = []
    for raw in server.log().splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            lines.append({"raw": raw})
    return lines


def _wait_for(server: LiveServer, message: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = _log_lines(server)
        if sum(line.get("msg") == message for line in lines) >= count:
            time.sleep(0.2)  # the request lines that follow
            return _log_lines(server)
        time.sleep(0.1)
    raise AssertionError(f"no {message!r} in the log:\n{server.log()[-3000:]}")


def test_a_client_leaving_mid_body_is_logged_as_a_disconnect(live_server):
    for _ in range(3):
        _leave_mid_body(live_server)
    lines = _wait_for(live_server, "client_disconnected", 3)
    disconnects = [line for line in lines if line.get("msg") == "client_disconnected"]
    assert len(disconnects) == 3
    assert all(line["level"] == "INFO" for line in disconnects), disconnects
    assert not [line for line in lines if line.get("msg") == "unhandled error"]
    assert not [line for line in lines if line.get("status") == 500]
    assert all("Traceback" not in line.get("raw", "") for line in lines)
    metrics = httpx.get(f"{live_server.url}/metrics").text
    assert 'status="500"' not in metrics
    assert 'status="499"' in metrics
    # and the server still answers
    ok = httpx.post(f"{live_server.url}/graphql", json={"query": "{ __typename }"})
    assert ok.status_code == 200
