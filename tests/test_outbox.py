"""The transactional mail outbox, against a real aiosmtpd and real server processes.

Every mail is a row written with the change that causes it; delivery claims rows (``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, a conditional ``UPDATE`` on SQLite), retries with
backoff, sends every attempt with the row's ``Message-ID`` and drops the bodies once done.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from stridegraph.app import create_app, mailer_for
from stridegraph.config import ConfigError, Settings, load_settings
from stridegraph.db.engine import make_session_factory
from stridegraph.db.models import OutboxMail, User
from stridegraph.domain import password_reset
from stridegraph.domain.crypto import SecretCipher
from stridegraph.domain.mail import Mail, Mailer, queue
from stridegraph.domain.passwords import PasswordService
from stridegraph.domain.unit import Services
from tests.conftest import GraphQLClient, LiveServer, server_env, start_server, stop_server
from tests.helpers import make_user
from tests.mail_fixtures import ConfigurableSink, RejectingHandler, token_in
from tests.smtp import SmtpSink

REQUEST = "mutation ($e: String!) { requestPasswordReset(email: $e) { errors { field code } } }"
RESET = """
mutation ($t: String!, $p: String!) {
  resetPassword(token: $t, newPassword: $p) { errors { field code } }
}
"""
NEW = "brand new password 42"
#: delivery settings for servers under test: quick retries, short leases, quick polls
FAST = {
    "STRIDEGRAPH_MAIL_BACKOFF_BASE": "0.2",
    "STRIDEGRAPH_MAIL_BACKOFF_MAX": "0.5",
    "STRIDEGRAPH_MAIL_MAX_ATTEMPTS": "1000",
    "STRIDEGRAPH_MAIL_LEASE": "5",
    "STRIDEGRAPH_MAIL_POLL_INTERVAL": "0.2",
    "STRIDEGRAPH_RESET_MAX_PER_ADDRESS": "1000",
}


def dead_smtp_url() -> str:
    """A port where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"smtp://127.0.0.1:{sock.getsockname()[1]}"


async def rows(db: Any) -> list[OutboxMail]:
    async with make_session_factory(db.engine)() as session:
        return list(await session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


async def until(condition: Any, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``condition`` (sync or async) until it is truthy; return what it returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(interval)


def message_ids(sink: SmtpSink) -> Counter[str]:
    with sink.lock:
        return Counter(str(m["Message-ID"]) for m in sink.messages)


@asynccontextmanager
async def app_with(settings: Settings, db: Any, mailer: Mailer) -> AsyncIterator[GraphQLClient]:
    """An in-process app on ``db`` whose services use ``mailer``; stopped afterwards."""
    services = Services(
        settings=settings,
        sessions=make_session_factory(db.engine),
        passwords=PasswordService(settings),
        mailer=mailer,
        cipher=SecretCipher(settings.encryption_keys),
    )
    app = create_app(settings, services=services)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http)
    finally:
        await mailer.stop()
        services.passwords.close()


async def request_reset(gql: GraphQLClient, email: str) -> None:
    data = await gql.data(REQUEST, {"e": email})
    assert data["requestPasswordReset"] == {"errors": []}


@pytest.fixture
def mail_on(settings: Settings, smtp: SmtpSink) -> Settings:
    return settings.with_(smtp_url=smtp.url, reset_max_per_address=1000)


# --------------------------------------------------------------------------- transaction


async def test_a_mutation_that_fails_after_queueing_leaves_no_row_and_sends_nothing(
    mail_on: Settings,
    db: Any,
    smtp: SmtpSink,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mailer = Mailer(smtp.url, "x <x@example.org>", base_delay=0.05)
    async with app_with(mail_on, db, mailer) as gql:
        await make_user(services, "ann")
        await request_reset(gql, "ann@example.com")
        [message] = await smtp.wait_for(1)
        token = token_in(message, "/reset-password")

        # resetPassword changes the password, ends sessions and queues "password changed";
        # then something fails before the commit
        original = password_reset.notices.password_changed

        async def queue_then_fail(unit: Any, *, user: User) -> None:
            await original(unit, user=user)
            raise RuntimeError("boom after queueing")

        monkeypatch.setattr(password_reset.notices, "password_changed", queue_then_fail)
        body = await gql.execute(RESET, {"t": token, "p": NEW})
        assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert [r.kind for r in await rows(db)] == ["password_reset"]  # only the first mail
        monkeypatch.undo()

        # the same token works (nothing was changed), and this time the notice is mailed
        assert (await gql.data(RESET, {"t": token, "p": NEW}))["resetPassword"] == {"errors": []}
        await smtp.wait_for(2)
        await mailer.drain()
    found = await rows(db)
    assert [r.kind for r in found] == ["password_reset", "password_changed"]
    assert message_ids(smtp) == Counter({r.message_id: 1 for r in found})


async def test_the_row_is_committed_with_the_change_before_any_delivery(
    mail_on: Settings, db: Any, services: Services
) -> None:
    """With SMTP down, the committed request leaves its mail queued in the database, body
    and link included: what a crash right after the commit would leave for a restart."""
    settings = mail_on.with_(smtp_url=dead_smtp_url())
    mailer = Mailer(settings.smtp_url, "x <x@example.org>", base_delay=30)
    async with app_with(settings, db, mailer) as gql:
        await make_user(services, "ann")
        await request_reset(gql, "ann@example.com")
        [row] = await until(lambda: rows(db))
        assert row.state in ("queued", "sending")
        assert row.recipient == "ann@example.com" and row.kind == "password_reset"
        assert row.body_text is not None and "/reset-password?token=" in row.body_text
        host = urlsplit(settings.public_url).hostname
        assert re.fullmatch(rf"<[0-9a-f]{{32}}@{re.escape(str(host))}>", row.message_id)


# --------------------------------------------------------------------------- delivery


async def test_after_delivery_the_body_is_gone_and_the_metadata_stays(
    mail_on: Settings, db: Any, smtp: SmtpSink, services: Services
) -> None:
    mailer = Mailer(smtp.url, "x <x@example.org>", base_delay=0.05)
    async with app_with(mail_on, db, mailer) as gql:
        await make_user(services, "ann")
        await request_reset(gql, "ann@example.com")
        [message] = await smtp.wait_for(1)
        await mailer.drain()
    [row] = await rows(db)
    assert message["Message-ID"] == row.message_id
    assert (row.state, row.attempts, row.body_text, row.body_html) == ("sent", 1, None, None)
    assert row.recipient == "ann@example.com" and row.kind == "password_reset"
    assert row.subject == message["Subject"]
    assert row.sent_at is not None and row.sent_at >= row.created_at
    assert row.claimed_by is None and row.lease_until is None and row.last_error is None


async def test_after_n_failures_the_row_is_failed(
    mail_on: Settings, db: Any, services: Services
) -> None:
    settings = mail_on.with_(smtp_url=dead_smtp_url())
    mailer = Mailer(settings.smtp_url, "x <x@example.org>", base_delay=0.01, max_attempts=3)
    async with app_with(settings, db, mailer) as gql:
        await make_user(services, "ann")
        await request_reset(gql, "ann@example.com")
        await until(lambda: rows(db))
        await mailer.drain()
    [row] = await rows(db)
    assert (row.state, row.attempts) == ("failed", 3)
    assert row.body_text is None and row.body_html is None  # the link is not kept forever
    assert row.last_error == "ConnectionRefusedError" or "Connect" in (row.last_error or "")
    assert "ann" not in (row.last_error or "")
    assert row.sent_at is None and row.recipient == "ann@example.com"


async def test_a_permanent_refusal_fails_the_row_at_once(
    mail_on: Settings, db: Any, services: Services
) -> None:
    handler = RejectingHandler()
    sink = ConfigurableSink(handler)
    sink.start()
    try:
        settings = mail_on.with_(smtp_url=sink.url)
        mailer = Mailer(sink.url, "x <x@example.org>", base_delay=0.01, max_attempts=5)
        async with app_with(settings, db, mailer) as gql:
            await make_user(services, "ann")
            await request_reset(gql, "ann@example.com")
            await until(lambda: rows(db))
            await mailer.drain()
    finally:
        sink.stop()
    [row] = await rows(db)
    assert (row.state, row.attempts, handler.attempts) == ("failed", 1, 1)
    assert row.last_error == "SMTPDataError 550"


async def test_smtp_down_for_a_while_then_back_every_mail_arrives(
    mail_on: Settings, db: Any, services: Services
) -> None:
    sink = SmtpSink()  # its port is chosen, nothing listens on it yet
    settings = mail_on.with_(smtp_url=sink.url)
    mailer = Mailer(sink.url, "x <x@example.org>", base_delay=0.05, max_delay=0.3, max_attempts=50)
    names = [f"user{i}" for i in range(6)]
    try:
        async with app_with(settings, db, mailer) as gql:
            for name in names:
                await make_user(services, name)
            for name in names:
                await request_reset(gql, f"{name}@example.com")

            async def all_retried() -> bool:
                found = await rows(db)
                return len(found) == len(names) and all(r.attempts >= 2 for r in found)

            await until(all_retried)
            assert {r.state for r in await rows(db)} <= {"queued", "sending"}
            sink.start()
            await sink.wait_for(len(names), timeout=20)
            await mailer.drain()
        found = await rows(db)
        assert {r.state for r in found} == {"sent"}
        assert message_ids(sink) == Counter({r.message_id: 1 for r in found})
        assert sorted(str(m["To"]) for m in sink.messages) == sorted(
            f"{n}@example.com" for n in names
        )
    finally:
        sink.stop()


async def test_a_row_whose_lease_expired_is_claimed_again(
    mail_on: Settings, db: Any, smtp: SmtpSink
) -> None:
    """A worker that died mid-send leaves its row ``sending``; once the lease ran out any
    worker sends it (with the same Message-ID). A live lease is left alone."""
    now = dt.datetime.now(dt.UTC)
    async with make_session_factory(db.engine)() as session:
        for n in range(2):
            queue(
                session, Mail(to=f"u{n}@example.com", subject="s", text="t"), public_url="http://h"
            )
        await session.flush()
        await session.execute(
            update(OutboxMail).values(
                state="sending", attempts=1, claimed_by="dead", claimed_at=now
            )
        )
        await session.execute(
            update(OutboxMail)
            .where(OutboxMail.recipient == "u0@example.com")
            .values(lease_until=now - dt.timedelta(seconds=1))
        )
        await session.execute(
            update(OutboxMail)
            .where(OutboxMail.recipient == "u1@example.com")
            .values(lease_until=now + dt.timedelta(hours=1))
        )
        await session.commit()
    mailer = Mailer(smtp.url, "x <x@example.org>", base_delay=0.05, poll_interval=0.1)
    mailer.start(make_session_factory(db.engine))
    try:
        [message] = await smtp.wait_for(1)
        await until(lambda: until_state(db, "u0@example.com", "sent"))
    finally:
        await mailer.stop()
    by_to = {r.recipient: r for r in await rows(db)}
    assert message["Message-ID"] == by_to["u0@example.com"].message_id
    assert by_to["u0@example.com"].attempts == 2
    assert by_to["u1@example.com"].state == "sending"  # still someone else's
    assert len(smtp.messages) == 1


async def test_a_row_whose_last_try_never_finished_is_given_up(
    mail_on: Settings, db: Any, smtp: SmtpSink
) -> None:
    """A worker died during the last allowed try (perhaps because of that mail): once the
    lease ran out the row is failed, not tried beyond the limit."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    async with make_session_factory(db.engine)() as session:
        queue(session, Mail(to="u@example.com", subject="s", text="t"), public_url="http://h")
        await session.flush()
        await session.execute(
            update(OutboxMail).values(
                state="sending", attempts=3, claimed_by="dead", lease_until=past
            )
        )
        await session.commit()
    mailer = Mailer(smtp.url, "x <x@example.org>", max_attempts=3, poll_interval=0.1)
    mailer.start(make_session_factory(db.engine))
    try:
        await mailer.drain()
    finally:
        await mailer.stop()
    [row] = await rows(db)
    assert (row.state, row.last_error, row.body_text) == ("failed", "LeaseExpired", None)
    assert smtp.messages == []


async def until_state(db: Any, recipient: str, state: str) -> bool:
    return any(r.recipient == recipient and r.state == state for r in await rows(db))


async def test_two_mailers_on_one_database_deliver_each_row_once(
    mail_on: Settings, db: Any, smtp: SmtpSink
) -> None:
    """Two delivery loops (two processes' worth) claim from the same table; on SQLite that is
    the single-claimer rule, on PostgreSQL SKIP LOCKED."""
    count = 60
    async with make_session_factory(db.engine)() as session:
        for n in range(count):
            queue(
                session, Mail(to=f"u{n}@example.com", subject="s", text="t"), public_url="http://h"
            )
        await session.commit()
    mailers = [
        Mailer(smtp.url, "x <x@example.org>", base_delay=0.05, poll_interval=0.05, workers=3)
        for _ in range(2)
    ]
    for mailer in mailers:
        mailer.start(make_session_factory(db.engine))
    try:
        await smtp.wait_for(count, timeout=30)
        await mailers[0].drain(timeout=20)
    finally:
        for mailer in mailers:
            await mailer.stop()
    found = await rows(db)
    assert {r.state for r in found} == {"sent"}
    assert message_ids(smtp) == Counter({r.message_id: 1 for r in found})
    assert len(smtp.messages) == count
    assert all(m.sent > 0 for m in mailers), [m.sent for m in mailers]  # both took part


async def test_stop_lets_the_send_in_progress_end_and_leaves_every_row_claimable(
    mail_on: Settings, db: Any
) -> None:
    """A worker claims only what it sends at once; stopping it mid-send (a server that never
    answers) ends that send at its timeout and leaves every row queued for other workers."""
    async with make_session_factory(db.engine)() as session:
        for n in range(8):
            queue(
                session, Mail(to=f"u{n}@example.com", subject="s", text="t"), public_url="http://h"
            )
        await session.commit()
    # a server that accepts connections and never answers: the one send hangs
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        mailer = Mailer(
            f"smtp://127.0.0.1:{port}", "x <x@example.org>", workers=1, timeout=1.0, lease=60
        )
        mailer.start(make_session_factory(db.engine))
        await until(lambda: until_state(db, "u0@example.com", "sending"))
        await mailer.stop()
    found = await rows(db)
    assert all(r.claimed_by is None for r in found), [(r.state, r.claimed_by) for r in found]
    assert {r.state for r in found} == {"queued"}
    assert sorted(r.attempts for r in found) == [0] * 7 + [1]  # only one was claimed


# --------------------------------------------------------------------------- /metrics


async def test_metrics_show_counts_and_the_oldest_queued_age_in_one_statement(
    settings: Settings, db: Any, services: Services, sql_counter: Any
) -> None:
    now = dt.datetime.now(dt.UTC)
    async with make_session_factory(db.engine)() as session:
        for n, state in enumerate(["queued", "queued", "sent", "failed", "failed", "failed"]):
            queue(
                session, Mail(to=f"u{n}@example.com", subject="s", text="t"), public_url="http://h"
            )
            await session.flush()
            await session.execute(
                update(OutboxMail)
                .where(OutboxMail.recipient == f"u{n}@example.com")
                .values(state=state, created_at=now - dt.timedelta(seconds=90 - n))
            )
        await session.commit()
    assert not services.mailer.enabled  # no delivery loop moves the rows
    app = create_app(settings, services=services)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        sql_counter.reset()
        text = (await http.get("/metrics")).text
        assert sql_counter.count == 1, sql_counter.statements
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("stridegraph_mail_")
    }
    assert values['stridegraph_mail_outbox{state="queued"}'] == 2
    assert values['stridegraph_mail_outbox{state="sending"}'] == 0
    assert values['stridegraph_mail_outbox{state="sent"}'] == 1
    assert values['stridegraph_mail_outbox{state="failed"}'] == 3
    assert 90 <= values["stridegraph_mail_oldest_queued_seconds"] < 120


# --------------------------------------------------------------------------- real servers


@pytest.fixture
def sink_later() -> Iterator[SmtpSink]:
    """An aiosmtpd whose port is reserved now and which the test starts when it wants."""
    sink = SmtpSink()
    yield sink
    if sink.controller._thread is not None:  # started
        sink.stop()


def kill(server: LiveServer) -> None:
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


async def test_sigkill_between_commit_and_delivery_then_restart_delivers_once(
    settings: Settings, services: Services, db: Any, sink_later: SmtpSink, tmp_path: Path
) -> None:
    user = await make_user(services, "ann")
    env = server_env(settings, STRIDEGRAPH_SMTP_URL=sink_later.url, **FAST)
    first = start_server(env, tmp_path)
    try:
        response = httpx.post(
            f"{first.url}/graphql", json={"query": REQUEST, "variables": {"e": user.email}}
        )
        assert response.json()["data"]["requestPasswordReset"] == {"errors": []}
        # committed, and at least one attempt failed against the silent port
        await until(lambda: until_attempted(db))
    finally:
        kill(first)
    [row] = await rows(db)
    assert row.state in ("queued", "sending") and row.body_text is not None
    sink_later.start()
    second = start_server(env, tmp_path)
    try:
        [message] = await sink_later.wait_for(1, timeout=30)
        await until(lambda: until_state(db, user.email, "sent"))
        token = token_in(message, "/reset-password")
        reset = httpx.post(
            f"{second.url}/graphql", json={"query": RESET, "variables": {"t": token, "p": NEW}}
        )
        assert reset.json()["data"]["resetPassword"] == {"errors": []}
        await until(lambda: len(sink_later.messages) == 2)  # "password changed"
        await until(lambda: until_state(db, user.email, "sent"))
    finally:
        stop_server(second)
    found = await rows(db)
    assert found[0].message_id == row.message_id == message["Message-ID"]
    assert message_ids(sink_later) == Counter({r.message_id: 1 for r in found})
    assert {r.state for r in found} == {"sent"}


async def until_attempted(db: Any) -> bool:
    found = await rows(db)
    return len(found) == 1 and found[0].attempts >= 1


async def test_two_servers_on_one_postgresql_deliver_each_mail_once(
    settings: Settings, services: Services, db: Any, smtp: SmtpSink, tmp_path: Path
) -> None:
    if db.backend != "postgresql":
        pytest.skip("replicas share a PostgreSQL database")
    users = [await make_user(services, f"user{i}") for i in range(10)]
    # a lease above the SMTP timeout, as documented: a row is claimed again only when its
    # holder is gone, so every Message-ID must arrive exactly once
    env = server_env(
        settings, STRIDEGRAPH_SMTP_URL=smtp.url, **{**FAST, "STRIDEGRAPH_MAIL_LEASE": "30"}
    )
    servers = [start_server(env, tmp_path, workers=2) for _ in range(2)]
    try:
        # mail queued through both replicas alternately, and a batch queued at once
        for i, user in enumerate(users):
            url = servers[i % 2].url
            body = httpx.post(
                f"{url}/graphql", json={"query": REQUEST, "variables": {"e": user.email}}
            ).json()
            assert body["data"]["requestPasswordReset"] == {"errors": []}
        async with make_session_factory(db.engine)() as session:
            for n in range(150):
                queue(
                    session,
                    Mail(to=f"bulk{n}@example.com", subject="s", text="t"),
                    public_url="http://h",
                )
            await session.commit()
        total = len(users) + 150
        await smtp.wait_for(total, timeout=60)

        async def all_sent() -> bool:
            return {r.state for r in await rows(db)} == {"sent"}

        await until(all_sent)
    finally:
        for server in servers:
            stop_server(server)
    found = await rows(db)
    assert len(found) == total
    assert message_ids(smtp) == Counter({r.message_id: 1 for r in found})
    per_server = [
        sum(json.loads(line).get("msg") == "mail sent" for line in _json_lines(s.log()))
        for s in servers
    ]
    assert sum(per_server) == total and all(n > 0 for n in per_server), per_server


# --------------------------------------------------------------------------- settings


def test_delivery_settings_are_read_and_checked(tmp_path: Path) -> None:
    base = {"STRIDEGRAPH_DATA_DIR": str(tmp_path)}
    defaults = load_settings(base)
    assert (defaults.mail_max_attempts, defaults.mail_backoff_base_seconds) == (8, 30.0)
    assert (defaults.mail_lease_seconds, defaults.mail_poll_interval_seconds) == (120.0, 5.0)
    tuned = load_settings({**base, **FAST, "STRIDEGRAPH_MAIL_CONCURRENCY": "2"})
    mailer = mailer_for(tuned.with_(smtp_url="smtp://127.0.0.1:25"))
    assert (mailer.max_attempts, mailer.base_delay, mailer.max_delay) == (1000, 0.2, 0.5)
    assert (mailer.poll_interval, mailer.lease, mailer.workers) == (
        0.2,
        dt.timedelta(seconds=5),
        2,
    )
    assert [mailer.backoff(n) for n in (1, 2, 3)] == [0.2, 0.4, 0.5]  # capped
    for name, value in (
        ("MAIL_BACKOFF_BASE", "soon"),
        ("MAIL_LEASE", "0"),
        ("MAIL_MAX_ATTEMPTS", "0"),
    ):
        with pytest.raises(ConfigError, match=name):
            load_settings({**base, f"STRIDEGRAPH_{name}": value})


def _json_lines(log: str) -> list[str]:
    """The JSON lines of a server's log (anything else it printed is skipped)."""
    return [line for line in log.splitlines() if line.startswith("{")]
