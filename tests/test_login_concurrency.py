"""A burst of logins must not exhaust the connection pool: no request holds a pooled
connection while it queues for argon2 or opens the rate limiter's side transaction."""

from __future__ import annotations

import asyncio

import httpx

from stridegraph.app import create_app
from stridegraph.db.engine import make_engine, make_session_factory
from stridegraph.domain.unit import Services
from tests.helpers import PASSWORD, make_user

LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken errors { code } } }"""


async def test_a_login_burst_on_a_small_pool(settings, services, db):
    for i in range(12):
        await make_user(services, f"burst{i}")
    engine = make_engine(db.url, pool_size=2)  # PostgreSQL: 2 + 2 overflow connections
    small = Services(
        settings=settings,
        sessions=make_session_factory(engine),
        passwords=services.passwords,
        mailer=services.mailer,
        cipher=services.cipher,
    )
    app = create_app(settings, services=small)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

            async def login(i: int) -> dict:
                variables = {"u": f"burst{i}", "p": PASSWORD}
                response = await client.post(
                    "/graphql", json={"query": LOGIN, "variables": variables}
                )
                return response.json()

            bodies = await asyncio.wait_for(asyncio.gather(*(login(i) for i in range(12))), 60)
    finally:
        await engine.dispose()
    assert all(not b.get("errors") for b in bodies), [b for b in bodies if b.get("errors")][:1]
    assert all(b["data"]["login"]["accessToken"].startswith("sga_") for b in bodies)
