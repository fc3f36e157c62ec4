"""``X-Forwarded-For`` is honoured only from STRIDEGRAPH_TRUSTED_PROXIES: the client address
that sessions record and the per-address login limit counts."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from stridegraph.app import client_address, create_app
from stridegraph.db.models import Session
from tests.conftest import GraphQLClient, make_settings
from tests.helpers import PASSWORD, make_user

LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken errors { code } } }"""
PROXIES = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))


def scope(peer: str, *forwarded: str) -> dict:
    return {
        "client": (peer, 1234),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("198.51.100.9", ["203.0.113.7"], (), "198.51.100.9"),  # nothing trusted
        ("198.51.100.9", ["203.0.113.7"], PROXIES, "198.51.100.9"),  # peer not a proxy
        ("127.0.0.1", ["203.0.113.7"], PROXIES, "203.0.113.7"),
        ("127.0.0.1", [], PROXIES, "127.0.0.1"),
        # the right-most hop not ours is the client; hops to its left are client-supplied
        ("127.0.0.1", ["6.6.6.6, 203.0.113.7, 10.1.1.1"], PROXIES, "203.0.113.7"),
        ("127.0.0.1", ["6.6.6.6", "203.0.113.7, 10.1.1.1"], PROXIES, "203.0.113.7"),
        ("127.0.0.1", ["not-an-address"], PROXIES, "not-an-address"),
        ("127.0.0.1", ["10.2.2.2, 10.1.1.1"], PROXIES, "10.2.2.2"),
    ],
)
def test_client_address(peer, forwarded, trusted, expected) -> None:
    assert client_address(scope(peer, *forwarded), trusted) == expected


@pytest.fixture
def settings(db, tmp_path: Path):
    return make_settings(
        db.url, tmp_path / "data", trusted_proxies=PROXIES, login_max_failures_address=3
    )


async def login(gql, username, password, forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    body = await gql.data(LOGIN, {"u": username, "p": password}, headers=headers)
    return [e["code"] for e in body["login"]["errors"]]


async def test_sessions_record_the_forwarded_address(gql, services, db):
    await make_user(services, "alice")
    assert await login(gql, "alice", PASSWORD, forwarded="203.0.113.7") == []
    async with db.engine.connect() as conn:
        (row,) = (await conn.execute(select(Session))).all()
    assert row.client_address == "203.0.113.7"


async def test_the_address_limit_follows_the_forwarded_address(gql, services):
    await make_user(services, "bob")
    for i in range(3):
        assert await login(gql, f"x{i}", "wrong", "198.51.100.1") == ["INVALID_CREDENTIALS"]
    assert await login(gql, "bob", PASSWORD, "198.51.100.1") == ["TOO_MANY_ATTEMPTS"]
    assert await login(gql, "bob", PASSWORD, "198.51.100.2") == []


async def test_without_trusted_proxies_the_header_is_ignored(settings, services, db):
    await make_user(services, "carol")
    app = create_app(settings.with_(trusted_proxies=()), services=services)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        gql = GraphQLClient(http)
        for i in range(3):
            spoofed = f"198.51.100.{i + 10}"  # a different claimed address each time
            assert await login(gql, f"y{i}", "wrong", spoofed) == ["INVALID_CREDENTIALS"]
        assert await login(gql, "carol", PASSWORD, "198.51.100.99") == ["TOO_MANY_ATTEMPTS"]
