"""Production defaults (issue 11, point 10): with introspection off nothing else gives the
schema away (no "Did you mean" suggestions, ``_service`` only for the gateway), GraphiQL can
be off, and ``/metrics`` is guarded (token, or loopback only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from stridegraph.app import create_app
from tests.helpers import login_token, make_user

SECRET = "gateway-secret-0123456789"
METRICS_TOKEN = "metrics-token-0123456789"
SDL = "{ _service { sdl } }"
TYPO = "{ me { emial } }"
BAD_ENUM = "{ users(orderBy: { field: USERNAM }) { totalCount } }"


def client_for(app: Any, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def closed(settings: Any, services: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app as a production default would run it: introspection and GraphiQL off, a
    gateway secret configured."""
    hardened = settings.with_(introspection=False, graphiql=False, gateway_secret=SECRET)
    services.settings = hardened
    async with client_for(create_app(hardened, services=services)) as client:
        yield client


async def post(client: httpx.AsyncClient, query: str, **headers: str) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body.get("errors") or []]


def codes(body: dict[str, Any]) -> list[str]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


async def test_open_schema_suggests_and_serves_the_sdl(http: httpx.AsyncClient) -> None:
    """The control: with introspection on (the embedded default) all of it is there."""
    assert any("Did you mean 'email'" in m for m in messages(await post(http, TYPO)))
    assert any("Did you mean" in m for m in messages(await post(http, BAD_ENUM)))
    body = await post(http, SDL)
    assert "type User" in body["data"]["_service"]["sdl"]
    assert (await http.get("/graphql", headers={"accept": "text/html"})).status_code == 200


async def test_no_suggestions_when_introspection_is_off(closed: httpx.AsyncClient) -> None:
    for query in (TYPO, BAD_ENUM, "{ serverSettings { signupEnable } }"):
        body = await post(closed, query)
        assert body["errors"], query
        assert not any("Did you mean" in m for m in messages(body)), body
        assert not any("email" in m or "USERNAME" in m for m in messages(body)), body
    typo = messages(await post(closed, TYPO))
    assert typo == ["Cannot query field 'emial' on type 'UserMe'."]
    # variables are coerced by the same machinery
    response = await closed.post(
        "/graphql",
        json={
            "query": "query($o: UserOrder) { users(orderBy: $o) { totalCount } }",
            "variables": {"o": {"field": "USERNAM"}},
        },
    )
    assert not any("Did you mean" in m for m in messages(response.json()))
    body = await post(closed, "{ __schema { types { name } } }")
    assert body.get("data") is None and "introspection" in messages(body)[0].lower()


async def test_sdl_only_for_the_gateway_when_introspection_is_off(
    closed: httpx.AsyncClient, services: Any
) -> None:
    token = await login_token(services, await make_user(services, "admin", admin=True))
    refused = [
        await post(closed, SDL),
        await post(closed, SDL, **{"X-Gateway-Secret": SECRET + "x"}),
        await post(closed, SDL, **{"X-Gateway-Secret": ""}),
        await post(closed, SDL, Authorization=f"Bearer {token}"),  # not even an admin
        await post(closed, "{ s: _service { sdl } }"),
        await post(closed, "{ ...F } fragment F on Query { _service { sdl } }"),
        await post(
            closed, "{ serverSettings { signupEnabled } ... on Query { _service { sdl } } }"
        ),
    ]
    for body in refused:
        assert codes(body) == ["FORBIDDEN"], body
        assert body.get("data") is None
    allowed = await post(closed, SDL, **{"X-Gateway-Secret": SECRET})
    assert "type User" in allowed["data"]["_service"]["sdl"]
    # everything else still works, with or without the header
    plain = await post(closed, "{ serverSettings { signupEnabled } }")
    assert plain["data"]["serverSettings"]["signupEnabled"] is False


async def test_entities_keep_their_own_rules(closed: httpx.AsyncClient, services: Any) -> None:
    user = await make_user(services, "regular")
    token = await login_token(services, user)
    from strawberry import relay

    query = '{ _entities(representations: [{__typename: "User", id: "%s"}]) { ... on User { username } } }'
    query %= relay.to_base64("User", user.id)
    seen = await post(closed, query, Authorization=f"Bearer {token}")
    assert seen["data"]["_entities"] == [{"username": "regular"}]
    assert "UNAUTHENTICATED" in codes(await post(closed, query))


async def test_no_sdl_for_anyone_without_a_configured_secret(settings: Any, services: Any) -> None:
    app = create_app(settings.with_(introspection=False), services=services)
    async with client_for(app) as client:
        for header in ("", "None", SECRET):
            body = await post(client, SDL, **{"X-Gateway-Secret": header})
            assert codes(body) == ["FORBIDDEN"]


async def test_graphiql_off(closed: httpx.AsyncClient) -> None:
    page = await closed.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 404 and "graphiql" not in page.text.lower()


# --------------------------------------------------------------------------- /metrics


async def test_metrics_without_a_token_answer_loopback_clients_only(
    settings: Any, services: Any
) -> None:
    app = create_app(settings, services=services)
    async with client_for(app, "127.0.0.1") as local:
        assert (await local.get("/metrics")).status_code == 200
        # a request relayed by a local proxy is not a local scraper
        relayed = await local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert relayed.status_code == 403
    async with client_for(app, "::1") as local6:
        assert (await local6.get("/metrics")).status_code == 200
    async with client_for(app, "203.0.113.9") as remote:
        response = await remote.get("/metrics")
        assert response.status_code == 403
        assert "stridegraph_http_requests_total" not in response.text
    proxied = create_app(settings.with_(trusted_proxies=_nets("10.0.0.0/8")), services=services)
    async with client_for(proxied, "10.0.0.2") as via_proxy:
        spoofed = await via_proxy.get(
            "/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}
        )
        assert spoofed.status_code == 403


async def test_metrics_token(settings: Any, services: Any) -> None:
    app = create_app(settings.with_(metrics_token=METRICS_TOKEN), services=services)
    for peer in ("127.0.0.1", "203.0.113.9"):
        async with client_for(app, peer) as client:
            for headers in (
                {},
                {"Authorization": f"Bearer {METRICS_TOKEN}x"},
                {"Authorization": f"Basic {METRICS_TOKEN}"},
                {"Authorization": "Bearer "},
            ):
                response = await client.get("/metrics", headers=headers)
                assert response.status_code == 401, (peer, headers)
                assert response.headers["www-authenticate"].startswith("Bearer")
            good = await client.get(
                "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
            )
            assert good.status_code == 200
            assert "stridegraph_http_requests_total" in good.text


def _nets(*cidrs: str) -> tuple[Any, ...]:
    import ipaddress

    return tuple(ipaddress.ip_network(c) for c in cidrs)


async def test_a_postgresql_configuration_is_closed_by_default(tmp_path: Any) -> None:
    """From the environment as production has it (a PostgreSQL URL, nothing else about
    exposure): no introspection, no GraphiQL, no SDL, no suggestions. Nothing here reaches
    the database."""
    from stridegraph.config import load_settings

    settings = load_settings(
        {
            "STRIDEGRAPH_DATA_DIR": str(tmp_path),
            "STRIDEGRAPH_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:9/none",
            "STRIDEGRAPH_SECRET_KEY": "k" * 40,
            "STRIDEGRAPH_ENCRYPTION_KEY": "e" * 40,
        }
    )
    app = create_app(settings)
    try:
        async with client_for(app) as client:
            schema = await post(client, "{ __schema { types { name } } }")
            assert schema.get("data") is None and schema["errors"]
            assert codes(await post(client, SDL)) == ["FORBIDDEN"]
            assert not any("Did you mean" in m for m in messages(await post(client, TYPO)))
            page = await client.get("/graphql", headers={"accept": "text/html"})
            assert page.status_code == 404
    finally:
        app.state.services.passwords.close()
        await app.state.engine.dispose()
