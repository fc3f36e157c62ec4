"""Many replicas (issue 13, point 4): two separate ``stridegraph serve`` processes, each with
2 workers, on one PostgreSQL database through PgBouncer (transaction mode, pool of 3), and
traffic sent to both alternately. Nothing a guarantee rests on lives in a process: login
limits, sessions and tokens, the last-admin rule, username uniqueness and the mail outbox are
all in PostgreSQL, so what holds on one replica holds across both.

The servers are shared by the module's tests (start-up is the expensive part); each test uses
its own users.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.pg import PostgresServer
from tests.pgbouncer import PgBouncer
from tests.scale_support import (
    ADMIN_PASSWORD,
    CREATE_TOKEN,
    DEMOTE,
    ME,
    PASSWORD,
    RESET,
    REVOKE_TOKEN,
    SETTINGS,
    SIGN_UP,
    Bounced,
    Client,
    bounced_database,
    codes,
    message_ids,
    outcome,
    top_code,
    until,
)
from tests.smtp import SmtpSink

pytestmark = pytest.mark.slow

CREATE_USER = """mutation($input: CreateUserInput!) { createUser(input: $input) {
  user { id } errors { code } } }"""
LOGOUT = "mutation { logout { errors { code } } }"
PROMOTE = """mutation($id: ID!) { updateUser(id: $id, input: {accessType: ADMIN})
  { errors { code } } }"""
ADMINS = "SELECT id FROM users WHERE access_type = 'admin' AND active ORDER BY id"


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
        postgres_server, pgbouncer, smtp_sink, tmp_path_factory.mktemp("replicas")
    ) as found:
        yield found


@pytest.fixture(scope="module")
def replicas(bounced: Bounced) -> Iterator[list[LiveServer]]:
    # one after the other, with a generous start-up deadline: 2 x 2 workers importing at once
    # on a loaded 2-core machine can take longer than the usual 30 s
    servers: list[LiveServer] = []
    try:
        for _ in range(2):
            servers.append(
                start_server(bounced.env, bounced.data_dir.parent, workers=2, timeout=90)
            )
        yield servers
    finally:
        for server in servers:
            stop_server(server)


@pytest.fixture
async def clients(replicas: list[LiveServer]) -> AsyncIterator[list[Client]]:
    found = [Client(server.url) for server in replicas]
    yield found
    for client in found:
        await client.close()


async def create_user(
    client: Client, admin: str, username: str, *, admin_role: bool = False
) -> str:
    """A user made by an admin (active, e-mail verified); its global id."""
    form = {
        "username": username,
        "email": f"{username}@example.com",
        "name": username.title(),
        "password": ADMIN_PASSWORD if admin_role else PASSWORD,
        "accessType": "ADMIN" if admin_role else "REGULAR",
    }
    created = (await client.data(CREATE_USER, {"input": form}, token=admin))["createUser"]
    assert created["errors"] == [], created
    return created["user"]["id"]  # type: ignore[no-any-return]


async def test_login_limits_hold_across_replicas(clients: list[Client], bounced: Bounced) -> None:
    """Failures spread across both replicas lock out exactly as on one: the contract's 5
    wrong passwords, alternately to A and B, and then even the right password is refused on
    both. A burst of 12 concurrent guesses at another account, alternately to both, gets no
    more than the 5 through to a password check (each attempt is committed, then counted,
    so concurrent ones may refuse each other but never exceed the limit)."""
    a, b = clients
    admin = await a.token("root", ADMIN_PASSWORD)
    await create_user(b, admin, "erin")
    await create_user(b, admin, "gina")
    for i in range(5):
        assert codes(await clients[i % 2].login("erin", f"guess {i}")) == ["INVALID_CREDENTIALS"]
    for client in clients:
        refused = await client.login("erin", PASSWORD)
        assert refused["accessToken"] is None and codes(refused) == ["TOO_MANY_ATTEMPTS"]

    before = await bounced.fetch("SELECT count(*) AS n FROM login_attempts")
    results = await asyncio.gather(*(clients[i % 2].login("gina", f"guess {i}") for i in range(12)))
    outcomes = Counter(codes(r)[0] for r in results)
    assert set(outcomes) <= {"INVALID_CREDENTIALS", "TOO_MANY_ATTEMPTS"}, outcomes
    assert outcomes["INVALID_CREDENTIALS"] <= 5, outcomes
    after = await bounced.fetch("SELECT count(*) AS n FROM login_attempts")
    # a refusal leaves no row: what counts is exactly what reached a password check
    assert after[0]["n"] - before[0]["n"] == outcomes["INVALID_CREDENTIALS"]
    for client in clients:
        refused = await client.login("gina", PASSWORD)
        if outcomes["INVALID_CREDENTIALS"] == 5:
            assert codes(refused) == ["TOO_MANY_ATTEMPTS"]


async def test_a_revocation_on_one_replica_is_seen_on_the_other_at_once(
    clients: list[Client],
) -> None:
    a, b = clients
    admin = await a.token("root", ADMIN_PASSWORD)
    await create_user(a, admin, "frank")
    for _ in range(3):
        # a session made on A, used on B, ended on A: B refuses it in the very next request
        token = await a.token("frank", PASSWORD)
        assert (await b.data(ME, token=token))["me"]["username"] == "frank"
        assert (await a.data(LOGOUT, token=token))["logout"]["errors"] == []
        assert top_code(await b.execute(ME, token=token)) == "UNAUTHENTICATED"
        # an API token made on B, used on A, revoked on B: A refuses it at once
        session = await b.token("frank", PASSWORD)
        created = (await b.data(CREATE_TOKEN, token=session))["createApiToken"]
        assert (await a.data(ME, token=created["token"]))["me"]["username"] == "frank"
        revoked = await b.data(REVOKE_TOKEN, {"id": created["apiToken"]["id"]}, token=session)
        assert revoked["revokeApiToken"]["errors"] == []
        assert top_code(await a.execute(ME, token=created["token"])) == "UNAUTHENTICATED"


async def test_concurrent_demotes_on_two_replicas_leave_an_admin(
    clients: list[Client], bounced: Bounced
) -> None:
    """The last two admins demote each other at the same moment, each through another
    replica: exactly one demotion wins, one admin always remains."""
    a, b = clients
    survivor_name = "root"
    survivor_id = root_id = (await a.data(ME, token=await a.token("root", ADMIN_PASSWORD)))["me"][
        "id"
    ]
    seen: set[str] = set()
    for round_ in range(8):
        survivor_token = await a.token(survivor_name, ADMIN_PASSWORD)
        newcomer = f"admin{round_}"
        newcomer_id = await create_user(b, survivor_token, newcomer, admin_role=True)
        assert len(await bounced.fetch(ADMINS)) == 2
        newcomer_token = await b.token(newcomer, ADMIN_PASSWORD)
        bodies = await asyncio.gather(
            a.execute(DEMOTE, {"id": newcomer_id}, token=survivor_token),
            b.execute(DEMOTE, {"id": survivor_id}, token=newcomer_token),
        )
        results = [outcome(body, "updateUser") for body in bodies]
        admins = await bounced.fetch(ADMINS)
        assert len(admins) == 1, (round_, results, bodies)
        assert results.count("OK") == 1, (round_, results, bodies)
        refusal = next(r for r in results if r != "OK")
        assert refusal in ("LAST_ADMIN", "FORBIDDEN", "UNAUTHENTICATED"), bodies
        seen.add(refusal)
        if results[1] == "OK":  # the newcomer won
            survivor_name, survivor_id = newcomer, newcomer_id
    # the lock makes the loser wait and then see the winner's commit
    assert "LAST_ADMIN" in seen, seen
    if survivor_name != "root":  # give root its role back for the module's other tests
        token = await a.token(survivor_name, ADMIN_PASSWORD)
        promoted = await a.data(PROMOTE, {"id": root_id}, token=token)
        assert promoted["updateUser"]["errors"] == []


async def test_the_same_username_signed_up_on_both_replicas_once(
    clients: list[Client], bounced: Bounced
) -> None:
    admin = await clients[0].token("root", ADMIN_PASSWORD)
    assert (await clients[0].data(SETTINGS, token=admin))["updateServerSettings"]["errors"] == []

    def form(username: str, n: int) -> dict[str, object]:
        return {
            "input": {
                "username": username,
                "email": f"{username}.{n}@example.com",
                "name": "Twin",
                "password": PASSWORD,
            }
        }

    names = [f"twin{i}" for i in range(6)]
    bodies = await asyncio.gather(
        *(clients[n % 2].execute(SIGN_UP, form(name, n)) for name in names for n in range(4))
    )
    results = [outcome(body, "signUp") for body in bodies]
    for i, name in enumerate(names):
        mine = results[i * 4 : i * 4 + 4]
        assert sorted(mine) == ["OK", "USERNAME_TAKEN", "USERNAME_TAKEN", "USERNAME_TAKEN"], (
            name,
            mine,
        )
        rows = await bounced.fetch("SELECT id FROM users WHERE lower(username) = $1", name)
        assert len(rows) == 1


async def test_each_mail_is_delivered_once_across_replicas(
    clients: list[Client], bounced: Bounced, smtp_sink: SmtpSink, replicas: list[LiveServer]
) -> None:
    """Reset mails requested through both replicas at once (each worker of each replica runs
    the outbox loop): every outbox row reaches aiosmtpd exactly once, by its Message-ID."""
    admin = await clients[0].token("root", ADMIN_PASSWORD)
    users = [f"mailee{i}" for i in range(30)]
    for i, name in enumerate(users):
        await create_user(clients[i % 2], admin, name)
    requests = [
        clients[n % 2].data(RESET, {"e": f"{name}@example.com"}) for n, name in enumerate(users)
    ]
    bodies = await asyncio.gather(*requests)
    assert all(body["requestPasswordReset"]["errors"] == [] for body in bodies)

    async def all_sent() -> bool:
        states = {r["state"] for r in await bounced.fetch("SELECT state FROM outbox")}
        return states == {"sent"}

    await until(all_sent, timeout=40)
    rows = await bounced.fetch("SELECT message_id, recipient FROM outbox")
    assert sum(r["recipient"].startswith("mailee") for r in rows) == len(users)
    assert message_ids(smtp_sink) == Counter({r["message_id"]: 1 for r in rows})
    per_server = [
        sum(
            json.loads(line).get("msg") == "mail sent"
            for line in s.log().splitlines()
            if line.startswith("{")
        )
        for s in replicas
    ]
    assert sum(per_server) == len(rows) and all(n > 0 for n in per_server), per_server
