"""Operational surface: health, readiness, metrics, error masking, logs, limits, GraphiQL."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from stridegraph.app import create_app
from stridegraph.logs import JsonFormatter
from tests.conftest import make_settings
from tests.helpers import login_token, make_user


async def test_healthz_and_readyz(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).status_code == 200


@pytest.fixture
async def down_client(tmp_path: Path) -> Any:
    """The app pointed at a PostgreSQL that is not there."""
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:9/none", tmp_path)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.engine.dispose()


async def test_readyz_is_503_while_the_database_does_not_answer(
    down_client: httpx.AsyncClient,
) -> None:
    assert (await down_client.get("/healthz")).status_code == 200
    response = await down_client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


async def test_database_down_is_service_unavailable(down_client: httpx.AsyncClient) -> None:
    body = (
        await down_client.post("/graphql", json={"query": "{ serverSettings { signupEnabled } }"})
    ).json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "Traceback" not in json.dumps(body)
    with_token = await down_client.post(
        "/graphql",
        json={"query": "{ me { id } }"},
        headers={"Authorization": "Bearer sga_" + "x" * 43},
    )
    assert with_token.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"


async def test_metrics_in_prometheus_text_format(http: httpx.AsyncClient) -> None:
    await http.post("/graphql", json={"query": "{ serverSettings { signupEnabled } }"})
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert re.search(
        r'stridegraph_http_requests_total\{method="POST",route="/graphql",status="200"\} 1\.0',
        response.text,
    )
    assert "stridegraph_http_request_duration_seconds_bucket" in response.text


async def test_unexpected_errors_are_masked_with_a_request_id(
    http: httpx.AsyncClient, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with db.engine.begin() as conn:  # a value no code path expects
        await conn.execute(text("UPDATE server_settings SET password_policy = 'bogus'"))
    with caplog.at_level(logging.INFO):
        response = await http.post(
            "/graphql", json={"query": "{ serverSettings { passwordPolicy } }"}
        )
    error = response.json()["errors"][0]
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    request_id = error["extensions"]["requestId"]
    assert response.headers["x-request-id"] == request_id
    assert "bogus" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert any(r.exc_info for r in logged), "the trace goes to the log under the request id"
    assert any(r.name == "stridegraph.http" and r.status == 200 for r in logged)


async def test_one_log_line_per_request(
    http: httpx.AsyncClient, services: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user = await make_user(services, "logger")
    token = await login_token(services, user)
    with caplog.at_level(logging.INFO, logger="stridegraph.http"):
        await http.post(
            "/graphql",
            json={"query": "query WhoAmI { me { username } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
    lines = [r for r in caplog.records if r.name == "stridegraph.http"]
    assert len(lines) == 1
    record = lines[0]
    assert (record.method, record.operation, record.status) == ("POST", "WhoAmI", 200)
    assert record.duration_ms >= 0 and len(record.request_id) == 32
    formatted = JsonFormatter().format(record)
    assert token not in formatted
    assert json.loads(formatted)["operation"] == "WhoAmI"


def test_json_formatter_drops_secret_fields() -> None:
    record = logging.makeLogRecord(
        {
            "msg": "x",
            "password": "hunter2",
            "token": "sga_abc",
            "password_hash": "$argon2",
            "user_id": 7,
        }
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["user_id"] == 7
    assert not {"password", "token", "password_hash"} & set(entry)


async def test_depth_limit(settings: Any, services: Any) -> None:
    """Our schema has no cycles, so the limit is tested at a lowered setting; introspection is
    exempt (GraphiQL's own query is deep)."""
    app = create_app(settings.with_(max_query_depth=1), services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        body = (
            await client.post(
                "/graphql", json={"query": "{ me { privacySettings { hideActivityMap } } }"}
            )
        ).json()
    assert body.get("data") is None
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "MAX_DEPTH_LIMIT"


async def test_alias_limit(http: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"a{i}: serverSettings {{ signupEnabled }}" for i in range(31)) + " }"
    body = (await http.post("/graphql", json={"query": query})).json()
    assert body.get("data") is None
    assert "aliases" in body["errors"][0]["message"].lower()
    assert body["errors"][0]["extensions"]["code"] == "MAX_ALIASES_LIMIT"


async def test_token_limit(http: httpx.AsyncClient) -> None:
    query = "{ serverSettings { " + " ".join(["signupEnabled"] * 2100) + " } }"
    body = (await http.post("/graphql", json={"query": query})).json()
    assert body.get("data") is None
    assert "token" in body["errors"][0]["message"].lower()
    assert body["errors"][0]["extensions"]["code"] == "MAX_TOKENS_LIMIT"


async def test_body_size_limit(http: httpx.AsyncClient) -> None:
    padding = "#" + "x" * (2 * 1024 * 1024)
    response = await http.post(
        "/graphql",
        content=json.dumps({"query": "{ serverSettings { signupEnabled } }" + padding}),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_graphiql_is_served_without_a_cdn(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
    assert len(assets) >= 5
    assert "unpkg.com" not in page.text and "cdn" not in page.text.lower()
    for asset in assets:
        assert (await http.get(asset)).status_code == 200, asset
