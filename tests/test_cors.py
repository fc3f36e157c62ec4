"""CORS for real browser clients, against the real server: each request header Apollo Client,
a gateway or the multipart CSRF rule makes a browser send passes the preflight, an unlisted
one does not, and the request id is readable by the page (``Access-Control-Expose-Headers``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, make_settings, server_env, start_server, stop_server

ORIGIN = "https://spa.example"
HEADERS = (
    "authorization",
    "content-type",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "apollographql-client-name",
    "apollographql-client-version",
    "x-request-id",
    "traceparent",
    "tracestate",
)


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("cors")
    settings = make_settings(f"sqlite+aiosqlite:///{tmp / 'db.sqlite3'}", tmp / "data")
    server = start_server(server_env(settings, STRIDEGRAPH_CORS_ORIGINS=ORIGIN), Path(tmp))
    yield server
    stop_server(server)


def preflight(server: LiveServer, headers: str, origin: str = ORIGIN) -> httpx.Response:
    return httpx.options(
        f"{server.url}/graphql",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )


@pytest.mark.parametrize("header", HEADERS)
def test_preflight_allows_each_client_header(cors_server: LiveServer, header: str) -> None:
    response = preflight(cors_server, header)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert header in allowed


def test_preflight_allows_apollo_clients_headers_together(cors_server: LiveServer) -> None:
    """What Apollo Client 4 with client awareness and a trace header really asks for."""
    response = preflight(cors_server, ",".join(HEADERS))
    assert response.status_code == 200, response.text


def test_preflight_refuses_an_unlisted_header_and_origin(cors_server: LiveServer) -> None:
    assert preflight(cors_server, "x-something-else").status_code == 400
    assert preflight(cors_server, "authorization", origin="https://evil.example").status_code == 400


def test_the_request_id_is_exposed_to_the_page(cors_server: LiveServer) -> None:
    response = httpx.post(
        f"{cors_server.url}/graphql",
        json={"query": "{ serverSettings { signupEnabled } }"},
        headers={"Origin": ORIGIN, "X-Request-Id": "spa-42"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert "x-request-id" in exposed
    assert response.headers["x-request-id"]
