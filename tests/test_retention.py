"""Retention (issue 13, point 2): the purge deletes dead sessions and their refresh chains,
spent one-time tokens and MFA challenges, login attempts past the limits' windows, dead API
tokens and delivered outbox rows; it keeps every live row, keeps the lockout working, works
in batches, and runs on one replica at a time.

Each table is filled with live and dead rows whose times are set back, then purged through
the domain function, the ``stridegraph purge`` command and the real server's schedule."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from stridegraph.config import ConfigError, load_settings
from stridegraph.db.enums import TokenPurpose
from stridegraph.db.models import (
    ApiToken,
    LoginAttempt,
    OAuthState,
    OneTimeToken,
    OutboxMail,
    PasskeyChallenge,
    RotatedRefreshToken,
    Session,
)
from stridegraph.db.retention import PURGE_LOCK_KEY
from stridegraph.domain import retention
from stridegraph.domain.unit import Services
from tests.conftest import make_settings, server_env, start_server, stop_server
from tests.helpers import PASSWORD, make_user
from tests.test_config import run_cli

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


def _hash() -> bytes:
    return os.urandom(32)


@dataclass
class Seeded:
    """Which rows of each table must survive a purge, and how many must go."""

    kept: dict[str, set[Any]] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)


def _session(user_id: int, now: dt.datetime, **times: dt.datetime | None) -> Session:
    return Session(
        user_id=user_id,
        access_token_hash=_hash(),
        access_expires_at=times.get("access_expires_at") or now + HOUR,
        refresh_token_hash=_hash(),
        refresh_expires_at=times.get("refresh_expires_at") or now + 30 * DAY,
        created_at=now - 40 * DAY,
        last_used_at=now,
        revoked_at=times.get("revoked_at"),
    )


def _token(
    user_id: int, purpose: TokenPurpose, expires_at: dt.datetime, used_at: dt.datetime | None
) -> OneTimeToken:
    return OneTimeToken(
        user_id=user_id,
        purpose=purpose,
        token_hash=_hash(),
        created_at=expires_at - HOUR,
        expires_at=expires_at,
        used_at=used_at,
    )


def _api_token(
    user_id: int, expires_at: dt.datetime | None, revoked_at: dt.datetime | None
) -> ApiToken:
    return ApiToken(
        user_id=user_id,
        name="t",
        token_prefix="sgp_x",
        token_hash=_hash(),
        scopes="profile:read",
        created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        expires_at=expires_at,
        revoked_at=revoked_at,
    )


async def seed(services: Services) -> Seeded:
    """Live and dead rows in every table, with the default retention periods (sessions and
    API tokens 7 and 30 days after revocation or expiry, tokens 1 day, MFA challenges 1 hour,
    login attempts the longest limit window: 1 hour, the sign-up window)."""
    user = await make_user(services, "keeper")
    now = services.now()
    uid = user.id
    async with services.sessions() as s, s.begin():
        live = _session(uid, now)
        recently_revoked = _session(uid, now, revoked_at=now - DAY)
        just_expired = _session(uid, now, refresh_expires_at=now - DAY)
        revoked = _session(uid, now, revoked_at=now - 8 * DAY)
        expired = _session(uid, now, refresh_expires_at=now - 8 * DAY, access_expires_at=now)
        s.add_all([live, recently_revoked, just_expired, revoked, expired])
        await s.flush()
        rotated_live = [RotatedRefreshToken(token_hash=_hash(), session_id=live.id, rotated_at=now)]
        # expired anyway: rotated longer ago than the refresh TTL plus the sessions' grace
        rotated_stale = RotatedRefreshToken(
            token_hash=_hash(), session_id=live.id, rotated_at=now - 38 * DAY
        )
        rotated_dead = [
            RotatedRefreshToken(token_hash=_hash(), session_id=sid, rotated_at=now - 9 * DAY)
            for sid in (revoked.id, revoked.id, expired.id)
        ]
        s.add_all([*rotated_live, rotated_stale, *rotated_dead])

        link = TokenPurpose.PASSWORD_RESET
        tokens_kept = [
            _token(uid, link, now + HOUR, None),  # live
            _token(uid, link, now + HOUR, now - HOUR),  # used an hour ago
            _token(uid, TokenPurpose.EMAIL_VERIFICATION, now - HOUR, None),  # expired lately
        ]
        tokens_dead = [
            _token(uid, link, now + HOUR, now - 2 * DAY),
            _token(uid, TokenPurpose.EMAIL_CHANGE, now - 2 * DAY, None),
            _token(uid, TokenPurpose.EMAIL_VERIFICATION, now - 3 * DAY, now - 3 * DAY),
        ]
        mfa = TokenPurpose.MFA_LOGIN
        challenges_kept = [
            _token(uid, mfa, now + 5 * dt.timedelta(minutes=1), None),
            _token(uid, mfa, now + dt.timedelta(minutes=1), now - dt.timedelta(minutes=10)),
        ]
        challenges_dead = [
            _token(uid, mfa, now - 2 * HOUR, None),
            _token(uid, mfa, now - 3 * HOUR, now - 3 * HOUR),
        ]
        s.add_all([*tokens_kept, *tokens_dead, *challenges_kept, *challenges_dead])

        def attempt(age: dt.timedelta, key: str = "?someone") -> LoginAttempt:
            return LoginAttempt(account_key=key, client_address="10.0.0.1", created_at=now - age)

        attempts_kept = [attempt(dt.timedelta(minutes=m)) for m in (1, 20, 50)]
        attempts_kept.append(attempt(dt.timedelta(minutes=55), "!signup:10.0.0.1"))
        attempts_dead = [attempt(dt.timedelta(minutes=m)) for m in (61, 120, 60 * 24 * 3)]
        s.add_all([*attempts_kept, *attempts_dead])

        api_kept = [
            _api_token(uid, None, None),
            _api_token(uid, now + DAY, None),
            _api_token(uid, None, now - DAY),
            _api_token(uid, now - 29 * DAY, None),
        ]
        api_dead = [_api_token(uid, None, now - 31 * DAY), _api_token(uid, now - 40 * DAY, None)]
        s.add_all([*api_kept, *api_dead])

        def state(expires_at: dt.datetime, used_at: dt.datetime | None = None) -> OAuthState:
            return OAuthState(
                state_hash=_hash(),
                provider="sso",
                purpose="link",
                user_id=uid,
                redirect_uri="http://app.example/cb",
                nonce="n",
                code_verifier_encrypted="x",
                created_at=expires_at - 10 * MINUTE,
                expires_at=expires_at,
                used_at=used_at,
            )

        def challenge(
            expires_at: dt.datetime, used_at: dt.datetime | None = None
        ) -> PasskeyChallenge:
            return PasskeyChallenge(
                user_id=uid,
                purpose="registration",
                challenge_hash=_hash(),
                created_at=expires_at - 5 * MINUTE,
                expires_at=expires_at,
                used_at=used_at,
            )

        states_kept = [state(now + MINUTE), state(now + 9 * MINUTE)]
        states_dead = [state(now - MINUTE), state(now - DAY), state(now + 5 * MINUTE, now)]
        challenges_kept_ = [challenge(now + MINUTE)]
        challenges_dead_ = [challenge(now - MINUTE), challenge(now + 4 * MINUTE, now)]
        s.add_all([*states_kept, *states_dead, *challenges_kept_, *challenges_dead_])
        await s.flush()
        return Seeded(
            kept={
                "sessions": {live.id, recently_revoked.id, just_expired.id},
                "rotated_refresh_tokens": {r.token_hash for r in rotated_live},
                "one_time_tokens": {t.id for t in tokens_kept + challenges_kept},
                "login_attempts": {a.id for a in attempts_kept},
                "api_tokens": {t.id for t in api_kept},
                "oauth_states": {t.id for t in states_kept},
                "passkey_challenges": {c.id for c in challenges_kept_},
            },
            dead={
                "sessions": 2,
                "rotated_refresh_tokens": 4,
                "one_time_tokens": 3,
                "mfa_challenges": 2,
                "login_attempts": 3,
                "api_tokens": 2,
                "oauth_states": 3,
                "passkey_challenges": 2,
                "outbox": 0,  # its rule has a test of its own below
                # tests/test_security_history.py and tests/test_data_export.py
                "security_events": 0,
                "data_exports": 0,
            },
        )


KEYS: dict[str, Any] = {
    "sessions": Session.id,
    "rotated_refresh_tokens": RotatedRefreshToken.token_hash,
    "one_time_tokens": OneTimeToken.id,
    "login_attempts": LoginAttempt.id,
    "api_tokens": ApiToken.id,
    "oauth_states": OAuthState.id,
    "passkey_challenges": PasskeyChallenge.id,
}


async def remaining(services: Services) -> dict[str, set[Any]]:
    async with services.sessions() as s:
        return {name: set(await s.scalars(select(key))) for name, key in KEYS.items()}


async def test_purge_removes_dead_rows_and_keeps_live_ones(services: Services) -> None:
    seeded = await seed(services)
    assert await remaining(services) != seeded.kept  # the dead rows are there to begin with
    report = await retention.purge(services)
    assert not report.skipped
    assert report.counts == seeded.dead
    assert await remaining(services) == seeded.kept
    # a second round finds nothing: every table is at its bound
    again = await retention.purge(services)
    assert set(again.counts.values()) == {0}
    assert await remaining(services) == seeded.kept


async def test_outbox_rule_purges_only_mail_delivered_long_ago(services: Services) -> None:
    now = services.now()
    rows = [
        ("sent", now - 8 * DAY),  # delivered long ago: purged
        ("sent", now - DAY),  # delivered lately: kept
        ("queued", None),  # not delivered: kept, however old
        ("failed", None),
        ("sending", None),
    ]
    async with services.sessions() as session, session.begin():
        for i, (state, sent_at) in enumerate(rows):
            session.add(
                OutboxMail(
                    message_id=f"<{i}@retention.test>",
                    kind="test",
                    recipient="r@example.com",
                    subject="s",
                    state=state,
                    sent_at=sent_at,
                    created_at=now - 9 * DAY,
                )
            )
    report = await retention.purge(services)
    assert report.counts["outbox"] == 1
    async with services.sessions() as session:
        left = (await session.scalars(select(OutboxMail.state).order_by(OutboxMail.id))).all()
    assert left == ["sent", "queued", "failed", "sending"]


@pytest.fixture
def settings(db: Any, tmp_path: Path) -> Any:
    # login attempts asked to be kept 1 s only: the policy keeps them for the limits' window
    return make_settings(
        db.url, tmp_path / "data", retention_login_attempts_seconds=1, purge_interval_seconds=0
    )


LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken errors { code } } }"""


async def test_lockout_still_refuses_after_a_purge(services: Services, gql: Any) -> None:
    await make_user(services, "alice")
    for _ in range(services.settings.login_max_failures_account):
        body = await gql.data(LOGIN, {"u": "alice", "p": "wrong password"})
        assert [e["code"] for e in body["login"]["errors"]] == ["INVALID_CREDENTIALS"]
    # two minutes on: far past the 1 s asked for, well inside the 15-minute login window
    start = services.now()
    soon = start + dt.timedelta(minutes=2)
    services.clock = lambda: soon
    report = await retention.purge(services)
    assert report.counts["login_attempts"] == 0
    body = await gql.data(LOGIN, {"u": "alice", "p": PASSWORD})
    assert [e["code"] for e in body["login"]["errors"]] == ["TOO_MANY_ATTEMPTS"]
    # once past every window the rows go, and the account signs in again
    later = start + dt.timedelta(hours=1, minutes=1)
    services.clock = lambda: later
    report = await retention.purge(services)
    assert report.counts["login_attempts"] == services.settings.login_max_failures_account
    body = await gql.data(LOGIN, {"u": "alice", "p": PASSWORD})
    assert body["login"]["errors"] == [] and body["login"]["accessToken"]


async def test_batches_of_ten_take_four_statements_for_35_rows(
    services: Services, sql_counter: Any
) -> None:
    now = services.now()
    async with services.sessions() as s, s.begin():
        s.add_all(
            LoginAttempt(account_key=f"?u{i}", client_address="x", created_at=now - 2 * DAY)
            for i in range(35)
        )
        s.add(LoginAttempt(account_key="?live", client_address="x", created_at=now))
    sql_counter.reset()
    report = await retention.purge(services, batch=10)
    deletes = [
        q for q in sql_counter.statements if q.lstrip().upper().startswith("DELETE FROM LOGIN_")
    ]
    assert len(deletes) == 4 and all("LIMIT" in q.upper() for q in deletes)
    assert report.counts["login_attempts"] == 35
    async with services.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(LoginAttempt)) == 1


async def test_one_replica_at_a_time_on_postgresql(services: Services, db: Any) -> None:
    if db.backend != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's; SQLite has one writer anyway")
    now = services.now()

    async def dead_attempts() -> None:
        async with services.sessions() as s, s.begin():
            s.add_all(
                LoginAttempt(account_key=f"?u{i}", client_address="x", created_at=now - DAY)
                for i in range(35)
            )

    await dead_attempts()
    # another replica is purging: this round is skipped and deletes nothing
    async with db.engine.connect() as other:
        await other.begin()
        await other.execute(text(f"SELECT pg_advisory_xact_lock({PURGE_LOCK_KEY})"))
        report = await retention.purge(services, batch=10)
        assert report.skipped and report.counts == {}
        await other.rollback()
    async with services.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(LoginAttempt)) == 35
    # two purges at once: one does all the work
    reports = await asyncio.gather(*(retention.purge(services, batch=10) for _ in range(2)))
    done = sorted((r.counts.get("login_attempts", 0) for r in reports), reverse=True)
    assert done == [35, 0], reports
    assert any(r.skipped for r in reports), reports
    async with services.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(LoginAttempt)) == 0


async def test_purge_command_prints_counts_and_exits_0(
    services: Services, settings: Any, db: Any
) -> None:
    seeded = await seed(services)
    result = run_cli("purge", env=server_env(settings, STRIDEGRAPH_PURGE_BATCH="2"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    printed = json.loads(lines[0])
    assert printed["skipped"] is False
    assert printed["purged"] == seeded.dead
    assert await remaining(services) == seeded.kept


@pytest.mark.slow
async def test_the_server_purges_on_its_schedule(
    services: Services, settings: Any, tmp_path: Path
) -> None:
    seeded = await seed(services)
    server = start_server(server_env(settings, STRIDEGRAPH_PURGE_INTERVAL="1"), tmp_path)
    try:
        deadline = time.monotonic() + 30
        while await remaining(services) != seeded.kept:
            assert time.monotonic() < deadline, await remaining(services)
            await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=server.url) as client:
            metrics = (await client.get("/metrics")).text
        assert 'stridegraph_purged_rows_total{table="sessions"} 2.0' in metrics
        assert 'stridegraph_purged_rows_total{table="login_attempts"} 3.0' in metrics
        # rounds keep coming (with jitter) and keep the live rows
        time.sleep(2.5)
        assert await remaining(services) == seeded.kept
        assert server.process.poll() is None
    finally:
        stop_server(server)
    assert "retention purge failed" not in server.log()


def test_retention_settings_are_read_and_checked(tmp_path: Path) -> None:
    base = {"STRIDEGRAPH_DATA_DIR": str(tmp_path / "data")}
    defaults = load_settings(base)
    assert (defaults.purge_interval_seconds, defaults.purge_batch) == (3600, 1000)
    assert defaults.retention_sessions_seconds == 7 * 24 * 3600
    assert defaults.retention_tokens_seconds == 24 * 3600
    assert defaults.retention_outbox_sent_seconds == 7 * 24 * 3600
    given = load_settings(
        {**base, "STRIDEGRAPH_PURGE_INTERVAL": "0", "STRIDEGRAPH_RETENTION_SESSIONS": "60"}
    )
    assert (given.purge_interval_seconds, given.retention_sessions_seconds) == (0, 60)
    for name, value in (("PURGE_BATCH", "0"), ("RETENTION_TOKENS", "59"), ("PURGE_INTERVAL", "x")):
        with pytest.raises(ConfigError) as caught:
            load_settings({**base, f"STRIDEGRAPH_{name}": value})
        assert caught.value.variable == f"STRIDEGRAPH_{name}"
    result = run_cli("purge", env={**base, "STRIDEGRAPH_PURGE_BATCH": "-1"})
    assert result.returncode == 2 and "STRIDEGRAPH_PURGE_BATCH" in result.stderr
