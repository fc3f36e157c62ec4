"""Shared by the PgBouncer and replica tests: a fresh database reached through PgBouncer, the
CLI and real servers pointed at it, and a small GraphQL client for a running server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.conftest import make_settings, server_env
from tests.pg import PostgresServer
from tests.pgbouncer import PgBouncer
from tests.smtp import SmtpSink
from tests.test_config import run_cli

ADMIN_PASSWORD = "admin password long 1A!"
PASSWORD = "a long user password 9"
# fast outbox rounds (as in test_outbox.py), so a queued mail leaves within a second
FAST_MAIL = {
    "STRIDEGRAPH_MAIL_BACKOFF_BASE": "0.2",
    "STRIDEGRAPH_MAIL_BACKOFF_MAX": "0.5",
    "STRIDEGRAPH_MAIL_MAX_ATTEMPTS": "1000",
    "STRIDEGRAPH_MAIL_LEASE": "2",
    "STRIDEGRAPH_MAIL_POLL_INTERVAL": "0.2",
    "STRIDEGRAPH_RESET_MAX_PER_ADDRESS": "1000",
    "STRIDEGRAPH_SIGNUP_MAX_PER_ADDRESS": "1000",
}

LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken refreshToken errors { code } } }"""
ME = "{ me { id username name city } }"
SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) { status errors { code } } }"""
VERIFY = "mutation($t: String!) { verifyEmail(token: $t) { status errors { code } } }"
SETTINGS = """mutation { updateServerSettings(input: {signupEnabled: true}) {
  errors { code } } }"""
DEMOTE = """mutation($id: ID!) { updateUser(id: $id, input: {accessType: REGULAR})
  { errors { code } } }"""
CREATE_ADMIN = """mutation($u: String!, $p: String!) { createUser(input: {username: $u,
  email: "%s@example.com", name: "Admin", password: $p, accessType: ADMIN}) {
  user { id } errors { code } } }"""
CREATE_TOKEN = """mutation { createApiToken(name: "ci", scopes: ["profile:read"]) {
  token apiToken { id } errors { code } } }"""
REVOKE_TOKEN = "mutation($id: ID!) { revokeApiToken(id: $id) { errors { code } } }"
MY_SESSIONS = "{ mySessions { id current } }"
REVOKE_SESSION = "mutation($id: ID!) { revokeSession(id: $id) { errors { code } } }"
RESET = "mutation($e: String!) { requestPasswordReset(email: $e) { errors { code } } }"


@dataclass
class Bounced:
    """A fresh, migrated database: ``url`` through PgBouncer, ``direct_dsn`` straight to
    PostgreSQL (only for the tests' own checks), and the environment of a server on it."""

    name: str
    url: str
    direct_dsn: str
    env: dict[str, str]
    data_dir: Path

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.direct_dsn, timeout=5)
        try:
            return await conn.fetch(sql, *args)  # type: ignore[no-any-return]
        finally:
            await conn.close()


@asynccontextmanager
async def bounced_database(
    postgres: PostgresServer, bouncer: PgBouncer, smtp: SmtpSink, tmp: Path
) -> AsyncIterator[Bounced]:
    """Create a database on PostgreSQL, migrate it and create the admin ``root`` with the CLI
    *through PgBouncer*; drop it at the end."""
    name = f"stridegraph_bounce_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    direct = await postgres.create_database(name)
    try:
        url = bouncer.url_for(name)
        settings = make_settings(url, tmp / "data")
        env = server_env(
            settings,
            STRIDEGRAPH_DB_TRANSACTION_POOLER="true",
            STRIDEGRAPH_SMTP_URL=smtp.url,
            **FAST_MAIL,
        )
        migrated = run_cli("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        created = run_cli(
            "create-admin",
            "--username",
            "root",
            "--email",
            "root@example.com",
            "--password-stdin",
            env=env,
            stdin=ADMIN_PASSWORD + "\n",
        )
        assert created.returncode == 0, created.stderr
        yield Bounced(name, url, direct.replace("+asyncpg", ""), env, tmp / "data")
    finally:
        await postgres.drop_database(name)


class Client:
    """GraphQL over HTTP against one running server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(base_url=url, timeout=60)

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        body = await self.execute(query, variables, token=token)
        assert not body.get("errors"), body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    async def login(self, username: str, password: str) -> dict[str, Any]:
        return (await self.data(LOGIN, {"u": username, "p": password}))["login"]  # type: ignore[no-any-return]

    async def token(self, username: str, password: str) -> str:
        result = await self.login(username, password)
        assert result["errors"] == [], result
        return result["accessToken"]  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.http.aclose()


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


def top_code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors")
    return errors[0]["extensions"]["code"] if errors else None


def outcome(body: dict[str, Any], operation: str) -> str:
    """OK, a payload error code, or a top-level error code."""
    if body.get("errors"):
        return body["errors"][0]["extensions"]["code"]  # type: ignore[no-any-return]
    errors = body["data"][operation]["errors"]
    return errors[0]["code"] if errors else "OK"


def message_ids(smtp: SmtpSink) -> Counter[str]:
    with smtp.lock:
        return Counter(str(m["Message-ID"]) for m in smtp.messages)


async def until(check: Any, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)
