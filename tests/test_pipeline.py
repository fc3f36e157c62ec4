"""The schema's one extension (``graph.pipeline``): a repeated document is parsed, validated
and inspected once; its limits and refusals still hold on every request; the cache is
bounded and belongs to one schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from stridegraph.app import create_app
from stridegraph.graph import exposure, limits
from stridegraph.graph.schema import build_schema
from tests.conftest import make_settings
from tests.helpers import login_token, make_user

ME = "query Me { me { id username } }"


def client_for(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def post(client: httpx.AsyncClient, query: str, token: str | None = None, **kw: Any) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, **kw}, headers=headers)
    return response.json()


def codes(body: dict[str, Any]) -> list[str]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


@pytest.fixture
async def closed(settings: Any, services: Any) -> Any:
    hardened = settings.with_(introspection=False, graphiql=False, gateway_secret="s" * 24)
    services.settings = hardened
    async with client_for(create_app(hardened, services=services)) as client:
        yield client


def test_one_extension_per_request() -> None:
    """Strawberry pays a context manager per hook per extension per request."""
    for introspection in (True, False):
        settings = make_settings("sqlite+aiosqlite://", Path("."), introspection=introspection)
        assert len(build_schema(settings).extensions) == 1


async def test_a_repeated_document_is_inspected_once(closed, services, monkeypatch):
    """The SDL guard's walk and the argument scan run once per distinct text, not once per
    request (they walked the document on every request before)."""
    walks: list[Any] = []
    scans: list[Any] = []
    real_visit, real_fields = exposure.visit, limits._fields
    monkeypatch.setattr(exposure, "visit", lambda *a: walks.append(1) or real_visit(*a))
    monkeypatch.setattr(limits, "_fields", lambda *a: scans.append(1) or real_fields(*a))
    user = await make_user(services, "alice")
    token = await login_token(services, user)
    for _ in range(5):
        body = await post(closed, ME, token)
        assert body["data"]["me"]["username"] == "alice", body
    assert len(walks) <= 1 and len(scans) <= 1, (walks, scans)


async def test_limits_and_refusals_hold_on_every_repeat(closed, services):
    user = await make_user(services, "alice")
    token = await login_token(services, user)
    listing = "query($n: Int) { users(first: $n) { totalCount } }"
    for _ in range(3):
        assert codes(await post(closed, listing, token, variables={"n": 500})) == ["BAD_USER_INPUT"]
        body = await post(closed, listing, token, variables={"n": 5})
        assert not body.get("errors") and body["data"]["users"]["totalCount"] == 1, body
        assert codes(await post(closed, "{ _service { sdl } }", token)) == ["FORBIDDEN"]
        body = await post(closed, "{ me { emial } }", token)
        assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body
        assert "Did you mean" not in body["errors"][0]["message"]
        assert codes(await post(closed, ME, "not-a-token")) == ["UNAUTHENTICATED"]


async def test_operation_names_a_client_makes_up_are_not_kept(closed, services):
    user = await make_user(services, "alice")
    token = await login_token(services, user)
    cache = next(iter(closed._transport.app.routes[0].app.app.schema.extensions)).documents  # type: ignore[attr-defined]
    for i in range(20):
        await post(closed, ME, token, operationName=f"Nope{i}")
    await post(closed, ME, token, operationName="Me")
    assert len(cache.get(ME)._operations) == 1


def test_the_cache_is_bounded_and_per_schema() -> None:
    settings = make_settings("sqlite+aiosqlite://", Path("."))
    first, second = build_schema(settings), build_schema(settings)
    one = first.extensions[0].documents  # type: ignore[union-attr]
    other = second.extensions[0].documents  # type: ignore[union-attr]
    assert one is not other
    for i in range(one.size + 10):
        one.get(f"{{ a{i}: __typename }}")
    assert len(one) == one.size and len(other) == 0
