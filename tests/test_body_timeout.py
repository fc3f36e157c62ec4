"""Request bodies have a read deadline (issue 11, point 10), against the real server with
raw sockets: a client that sends its headers and then stalls, or trickles its body, gets a
408 JSON error and the connection is closed; the server keeps serving everyone else."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import LiveServer, server_env, start_server, stop_server

pytestmark = pytest.mark.slow
BODY = json.dumps({"query": "{ serverSettings { signupEnabled } }"}).encode()


@pytest.fixture
def server(settings: Any, db: Any, tmp_path: Any) -> Iterator[LiveServer]:
    if db.backend != "sqlite":
        pytest.skip("reading the body does not depend on the database")
    live = start_server(server_env(settings, STRIDEGRAPH_BODY_TIMEOUT="1"), tmp_path)
    yield live
    stop_server(live)


def _connect(server: LiveServer) -> socket.socket:
    parts = urlsplit(server.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=15)
    return sock


def _headers(length: int, content_type: str = "application/json") -> bytes:
    return (
        f"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket timeout
    fails the test if it never does)."""
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _assert_timed_out(raw: bytes) -> None:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), raw
    assert b"connection: close" in head.lower()
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"


def test_a_stalled_body_gets_408_and_the_connection_closes(server: LiveServer) -> None:
    with _connect(server) as sock:
        sock.sendall(_headers(len(BODY)) + BODY[:10])  # and then nothing
        _assert_timed_out(_read_until_closed(sock))
    assert (
        httpx.post(
            f"{server.url}/graphql", content=BODY, headers={"content-type": "application/json"}
        ).status_code
        == 200
    )


def test_a_trickled_body_gets_408_too(server: LiveServer) -> None:
    """One byte every 0.2 s never lets a per-read timeout fire: the deadline is for the whole
    body."""
    with _connect(server) as sock:
        sock.sendall(_headers(len(BODY)))
        closed_early = False
        for byte in BODY[:-1]:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed_early = True
                break
            time.sleep(0.2)
            sock.setblocking(False)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break  # the answer has come
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
        assert not closed_early
        _assert_timed_out(_read_until_closed(sock))


def test_a_stalled_upload_gets_408(server: LiveServer) -> None:
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{{}}\r\n'
    ).encode()
    with _connect(server) as sock:
        sock.sendall(
            _headers(10_000, f"multipart/form-data; boundary={boundary}")[:-2]
            + b"Apollo-Require-Preflight: 1\r\n\r\n"
            + head
        )
        _assert_timed_out(_read_until_closed(sock))


def test_a_complete_slow_start_is_fine(server: LiveServer) -> None:
    """A body that arrives in pieces within the deadline is served as usual."""
    with _connect(server) as sock:
        sock.sendall(_headers(len(BODY)) + BODY[:5])
        time.sleep(0.3)
        sock.sendall(BODY[5:])
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 200"), head
