"""The PostgreSQL end-to-end flows once through PgBouncer in transaction mode (issue 13,
point 3): a real ``stridegraph serve`` with STRIDEGRAPH_DB_TRANSACTION_POOLER=true whose
database URL points at a PgBouncer with a pool of 3 server connections, so consecutive
transactions of one client connection run on different server connections. The database is
migrated, the admin created and the purge run by the CLI through PgBouncer too.

The last test is the control: the same server without the setting fails behind the same
PgBouncer ("prepared statement ... does not exist"), which proves the path is exercised.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.mail_fixtures import token_in
from tests.pg import PostgresServer
from tests.pgbouncer import POOL_SIZE, PgBouncer
from tests.scale_support import (
    ADMIN_PASSWORD,
    CREATE_TOKEN,
    LOGIN,
    ME,
    MY_SESSIONS,
    PASSWORD,
    REVOKE_SESSION,
    REVOKE_TOKEN,
    SETTINGS,
    SIGN_UP,
    VERIFY,
    Bounced,
    Client,
    bounced_database,
    codes,
    message_ids,
    run_cli,
    top_code,
    until,
)
from tests.smtp import SmtpSink

pytestmark = pytest.mark.slow

UPDATE_ME = """mutation($input: UpdateMeInput!) { updateMe(input: $input) {
  user { name city } errors { code } } }"""
USERS = "{ users(first: 50) { totalCount edges { node { username } } } }"
USER_PAGE = "{ userPage(page: 1, perPage: 2) { totalCount pageCount items { username } } }"
REFRESH = """mutation($t: String!) { refreshSession(refreshToken: $t) {
  accessToken refreshToken errors { code } } }"""
LOGOUT = "mutation { logout { errors { code } } }"
CHANGE = """mutation($c: String!, $n: String!) { changePassword(currentPassword: $c,
  newPassword: $n) { errors { code } } }"""
DELETE_ME = "mutation($p: String!) { deleteMe(password: $p) { errors { code } } }"
NEW_PASSWORD = "another long password 8"
ROOT = {"u": "root", "p": ADMIN_PASSWORD}


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
async def bounced(
    postgres_server: PostgresServer,
    pgbouncer: PgBouncer,
    smtp_sink: SmtpSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Bounced]:
    async with bounced_database(
        postgres_server, pgbouncer, smtp_sink, tmp_path_factory.mktemp("bounce")
    ) as found:
        yield found


@pytest.fixture(scope="module")
def server(bounced: Bounced) -> Iterator[LiveServer]:
    live = start_server(bounced.env, bounced.data_dir.parent, workers=2)
    yield live
    stop_server(live)


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[Client]:
    found = Client(server.url)
    yield found
    await found.close()


async def sign_up_and_verify(client: Client, smtp: SmtpSink, username: str) -> str:
    """Sign-up (verification on: the mail goes through the outbox), follow the mailed link,
    log in; the access token."""
    address = f"{username}@example.com"
    form = {"username": username, "email": address, "name": username.title(), "password": PASSWORD}
    signed = (await client.data(SIGN_UP, {"input": form}))["signUp"]
    assert signed == {"status": "EMAIL_VERIFICATION_REQUIRED", "errors": []}
    await until(lambda: smtp.to(address), timeout=20)
    [message] = smtp.to(address)
    verified = await client.data(VERIFY, {"t": token_in(message, "/verify-email")})
    assert verified["verifyEmail"] == {"status": "ACTIVE", "errors": []}
    return await client.token(username, PASSWORD)


async def test_the_cli_migrated_and_created_the_admin_through_pgbouncer(
    bounced: Bounced, pgbouncer: PgBouncer
) -> None:
    assert [tuple(r) for r in await bounced.fetch("SELECT username, access_type FROM users")] == [
        ("root", "admin")
    ]
    assert await bounced.fetch("SELECT version_num FROM alembic_version")
    assert bounced.url.endswith(f":{pgbouncer.port}/{bounced.name}")


async def test_account_flows_through_pgbouncer(
    client: Client, smtp_sink: SmtpSink, bounced: Bounced
) -> None:
    admin = await client.token("root", ADMIN_PASSWORD)
    assert (await client.data(SETTINGS, token=admin))["updateServerSettings"]["errors"] == []
    token = await sign_up_and_verify(client, smtp_sink, "walker")
    # the verification mail left through the outbox: one row, sent, its Message-ID seen once
    [row] = await bounced.fetch(
        "SELECT state, message_id FROM outbox WHERE recipient = $1", "walker@example.com"
    )
    assert row["state"] == "sent" and message_ids(smtp_sink)[row["message_id"]] == 1

    me = (await client.data(ME, token=token))["me"]
    assert me["username"] == "walker"
    updated = await client.data(
        UPDATE_ME, {"input": {"name": "Wanda Walker", "city": "Ghent"}}, token=token
    )
    assert updated["updateMe"] == {"user": {"name": "Wanda Walker", "city": "Ghent"}, "errors": []}
    assert (await client.data(ME, token=token))["me"]["city"] == "Ghent"

    users = (await client.data(USERS, token=admin))["users"]
    assert users["totalCount"] == 2
    assert {e["node"]["username"] for e in users["edges"]} == {"root", "walker"}
    page = (await client.data(USER_PAGE, token=admin))["userPage"]
    assert (page["totalCount"], page["pageCount"], len(page["items"])) == (2, 1, 2)


async def test_sessions_tokens_and_password_change_through_pgbouncer(
    client: Client, smtp_sink: SmtpSink
) -> None:
    admin = await client.token("root", ADMIN_PASSWORD)
    await client.data(SETTINGS, token=admin)
    await sign_up_and_verify(client, smtp_sink, "runner")
    first = await client.login("runner", PASSWORD)
    # refresh: new tokens, the old access token stops working
    rotated = (await client.data(REFRESH, {"t": first["refreshToken"]}))["refreshSession"]
    assert rotated["errors"] == [] and rotated["accessToken"] != first["accessToken"]
    assert (await client.execute(ME, token=rotated["accessToken"]))["data"]["me"]
    assert top_code(await client.execute(ME, token=first["accessToken"])) == "UNAUTHENTICATED"
    # revoke one session from another
    other = await client.token("runner", PASSWORD)
    sessions = (await client.data(MY_SESSIONS, token=other))["mySessions"]
    victim = next(s["id"] for s in sessions if not s["current"])
    revoked = await client.data(REVOKE_SESSION, {"id": victim}, token=other)
    assert revoked["revokeSession"]["errors"] == []
    # an API token: works, then revoked, refused
    created = (await client.data(CREATE_TOKEN, token=other))["createApiToken"]
    assert created["errors"] == []
    assert (await client.data(ME, token=created["token"]))["me"]["username"] == "runner"
    gone = await client.data(REVOKE_TOKEN, {"id": created["apiToken"]["id"]}, token=other)
    assert gone["revokeApiToken"]["errors"] == []
    assert top_code(await client.execute(ME, token=created["token"])) == "UNAUTHENTICATED"
    # change the password: the old one no longer logs in, the new one does; then log out
    changed = await client.data(CHANGE, {"c": PASSWORD, "n": NEW_PASSWORD}, token=other)
    assert changed["changePassword"]["errors"] == []
    assert codes(await client.login("runner", PASSWORD)) == ["INVALID_CREDENTIALS"]
    fresh = await client.token("runner", NEW_PASSWORD)
    assert (await client.data(LOGOUT, token=fresh))["logout"]["errors"] == []
    assert top_code(await client.execute(ME, token=fresh)) == "UNAUTHENTICATED"


async def test_login_lockout_through_pgbouncer(client: Client, smtp_sink: SmtpSink) -> None:
    """The contract's default: 5 failures per account in 15 minutes, then TOO_MANY_ATTEMPTS
    even for the right password; the count lives in PostgreSQL behind an advisory lock."""
    admin = await client.token("root", ADMIN_PASSWORD)
    await client.data(SETTINGS, token=admin)
    await sign_up_and_verify(client, smtp_sink, "locked")
    # concurrently, so the advisory lock is what keeps the count exact
    failures = await asyncio.gather(*(client.login("locked", "wrong") for _ in range(5)))
    assert [codes(f) for f in failures] == [["INVALID_CREDENTIALS"]] * 5
    refused = await client.login("locked", PASSWORD)
    assert refused["accessToken"] is None and codes(refused) == ["TOO_MANY_ATTEMPTS"]


async def test_the_last_admin_cannot_leave_through_pgbouncer(client: Client) -> None:
    admin = await client.token("root", ADMIN_PASSWORD)
    body = await client.data(DELETE_ME, {"p": ADMIN_PASSWORD}, token=admin)
    assert codes(body["deleteMe"]) == ["LAST_ADMIN"]
    assert (await client.data(ME, token=admin))["me"]["username"] == "root"


async def test_many_concurrent_requests_rotate_server_connections(
    client: Client, bounced: Bounced
) -> None:
    """More concurrent requests than PgBouncer has server connections (3): every one
    answers, and PostgreSQL really saw several backends for this database."""
    token = await client.token("root", ADMIN_PASSWORD)
    bodies = await asyncio.gather(*(client.execute(ME, token=token) for _ in range(60)))
    assert [b.get("errors") for b in bodies] == [None] * 60
    assert {b["data"]["me"]["username"] for b in bodies} == {"root"}
    backends = await bounced.fetch(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1", bounced.name
    )
    assert 1 <= backends[0]["n"] <= POOL_SIZE + 1  # the pool's 3 (+ this check's own)


async def test_purge_runs_through_pgbouncer(bounced: Bounced) -> None:
    result = run_cli("purge", env=bounced.env)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed["skipped"] is False


async def test_without_the_setting_the_server_fails_behind_pgbouncer(
    bounced: Bounced, tmp_path: Path
) -> None:
    """The control: prepared statements cached per client connection break when the next
    transaction lands on another server connection."""
    env = {k: v for k, v in bounced.env.items() if k != "STRIDEGRAPH_DB_TRANSACTION_POOLER"}
    try:
        server = start_server(env, tmp_path)
    except RuntimeError as exc:
        # the start-up check itself may already fail (its one statement lands on another
        # server connection than its preparation); the CLI names only the error class
        assert "prepared statement" in str(exc) or "(ProgrammingError)" in str(exc), exc
        return
    client = Client(server.url)
    failed: list[str] = []
    try:
        for _ in range(5):
            logins = await asyncio.gather(
                *(
                    client.http.post("/graphql", json={"query": LOGIN, "variables": ROOT})
                    for _ in range(20)
                )
            )
            failed += [r.text for r in logins if r.status_code != 200 or r.json().get("errors")]
    finally:
        await client.close()
        stop_server(server)
    assert failed, "every request succeeded without the setting"
    assert "prepared statement" in server.log(), server.log()[-3000:]
