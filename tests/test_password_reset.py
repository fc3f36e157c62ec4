"""Password reset by mailed link, the admin-sent link and the set-password link of an account
created without a password; links followed out of messages a real aiosmtpd received."""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time
from typing import Any

import pytest
from sqlalchemy import update
from strawberry import relay

from stridegraph.db.enums import TokenPurpose
from stridegraph.db.models import User
from tests.helpers import login_token, make_user
from tests.mail_fixtures import (
    age_tokens,
    live_sessions,
    mail_settings,
    read_tokens,
    read_user,
    token_in,
)
from tests.smtp import body_text

REQUEST = "mutation ($e: String!) { requestPasswordReset(email: $e) { errors { field code } } }"
RESET = """
mutation ($t: String!, $p: String!) {
  resetPassword(token: $t, newPassword: $p) { errors { field code } }
}
"""
SEND = "mutation ($id: ID!) { sendPasswordResetEmail(id: $id) { errors { field code } } }"
ME = "{ me { username } }"
NEW = "brand new password 42"
ADMIN_PASSWORD = "admin password long 1A!"


@pytest.fixture
def settings(settings: Any, smtp: Any) -> Any:
    # the timing comparison makes 22 requests from one client (the limit has its own tests)
    return mail_settings(settings, smtp).with_(reset_max_per_address=100)


async def request(gql: Any, email: str) -> dict[str, Any]:
    return (await gql.data(REQUEST, {"e": email}))["requestPasswordReset"]  # type: ignore[no-any-return]


async def reset(gql: Any, token: str, password: str = NEW) -> dict[str, Any]:
    return (await gql.data(RESET, {"t": token, "p": password}))["resetPassword"]  # type: ignore[no-any-return]


async def test_reset_by_link_ends_every_session(gql, db, smtp, services):
    user = await make_user(services, "ann")
    sessions = [await login_token(services, user) for _ in range(2)]
    assert await request(gql, "ANN@example.com") == {"errors": []}
    [message] = await smtp.wait_for(1)
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Reset your password on testserver"
    assert "60 minutes" in body_text(message)
    token = token_in(message, "/reset-password")
    [row] = await read_tokens(db, user_id=user.id)
    assert row.purpose is TokenPurpose.PASSWORD_RESET
    assert row.expires_at - row.created_at == dt.timedelta(hours=1)

    assert await reset(gql, token) == {"errors": []}
    after = await read_user(db, "ann")
    assert after is not None and after.password_hash != user.password_hash
    assert await services.passwords.verify(after.password_hash, NEW)
    assert await live_sessions(db, user.id) == 0
    for access in sessions:
        body = await gql.execute(ME, token=access)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    [_, notice] = await smtp.wait_for(2)
    assert notice["Subject"] == "Your password on testserver was changed"

    # single use
    assert await reset(gql, token, "yet another password 7") == {
        "errors": [{"field": "token", "code": "INVALID_TOKEN"}]
    }
    again = await read_user(db, "ann")
    assert again is not None and again.password_hash == after.password_hash


async def test_unknown_and_inactive_addresses_get_the_same_answer_and_no_mail(
    gql, db, smtp, services
):
    await make_user(services, "gone", active=False)
    assert await request(gql, "nobody@example.com") == {"errors": []}
    assert await request(gql, "gone@example.com") == {"errors": []}
    await services.mailer.drain()
    assert smtp.messages == [] and await read_tokens(db) == []


async def test_a_malformed_address_is_invalid(gql, db, smtp):
    assert await request(gql, "no at sign") == {"errors": [{"field": "email", "code": "INVALID"}]}


async def test_a_weak_password_changes_nothing_and_keeps_the_link(gql, db, smtp, services):
    user = await make_user(services, "ann")
    access = await login_token(services, user)
    await request(gql, "ann@example.com")
    token = token_in((await smtp.wait_for(1))[0], "/reset-password")
    assert await reset(gql, token, "short") == {
        "errors": [{"field": "newPassword", "code": "TOO_SHORT"}]
    }
    assert await reset(gql, token, "ann@example.com") == {
        "errors": [{"field": "newPassword", "code": "PASSWORD_TOO_WEAK"}]
    }
    after = await read_user(db, "ann")
    assert after is not None and after.password_hash == user.password_hash
    assert await live_sessions(db, user.id) == 1
    assert (await gql.data(ME, token=access))["me"]["username"] == "ann"
    [row] = await read_tokens(db, user_id=user.id)
    assert row.used_at is None
    assert await reset(gql, token) == {"errors": []}  # the link still works


@pytest.mark.parametrize(
    "kind", ["malformed", "unknown", "expired", "verification token", "inactive", "moved"]
)
async def test_bad_reset_tokens_change_nothing(kind, gql, db, smtp, services):
    user = await make_user(services, "ann", email_verified=False)
    await request(gql, "ann@example.com")
    token = token_in((await smtp.wait_for(1))[0], "/reset-password")
    if kind == "malformed":
        token = "sgp_" + token[4:]
    elif kind == "unknown":
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    elif kind == "expired":
        await age_tokens(db, user.id, dt.timedelta(hours=1, seconds=1))
    elif kind == "verification token":
        await gql.data(
            'mutation { resendVerificationEmail(email: "ann@example.com") { errors { code } } }'
        )
        token = token_in((await smtp.wait_for(2))[1], "/verify-email")
    elif kind in ("inactive", "moved"):
        values = (
            {"active": False}
            if kind == "inactive"
            else {"email": "moved@example.com", "email_key": "moved@example.com"}
        )
        async with db.engine.begin() as conn:
            await conn.execute(update(User).where(User.id == user.id).values(**values))
    before = [(t.id, t.used_at) for t in await read_tokens(db, user_id=user.id)]
    assert await reset(gql, token) == {"errors": [{"field": "token", "code": "INVALID_TOKEN"}]}
    after = await read_user(db, "ann")
    assert after is not None and after.password_hash == user.password_hash
    assert [(t.id, t.used_at) for t in await read_tokens(db, user_id=user.id)] == before


async def test_a_newer_link_retires_the_older_and_requests_are_rate_limited(
    gql, db, smtp, services
):
    user = await make_user(services, "ann")
    await request(gql, "ann@example.com")
    [first] = await smtp.wait_for(1)
    assert await request(gql, "ann@example.com") == {"errors": []}  # within the cool-down
    await services.mailer.drain()
    assert len(smtp.messages) == 1
    await age_tokens(db, user.id, dt.timedelta(minutes=2))
    await request(gql, "ann@example.com")
    [_, second] = await smtp.wait_for(2)
    assert await reset(gql, token_in(first, "/reset-password")) == {
        "errors": [{"field": "token", "code": "INVALID_TOKEN"}]
    }
    assert await reset(gql, token_in(second, "/reset-password")) == {"errors": []}


async def test_admin_sends_a_reset_link(gql, db, smtp, services):
    admin = await make_user(services, "boss", admin=True, password=ADMIN_PASSWORD)
    user = await make_user(services, "ann")
    token = await login_token(services, admin)
    gid = relay.to_base64("User", user.id)
    answer = await gql.data(SEND, {"id": gid}, token=token)
    assert answer == {"sendPasswordResetEmail": {"errors": []}}
    [message] = await smtp.wait_for(1)
    assert message["To"] == "ann@example.com"
    assert await reset(gql, token_in(message, "/reset-password")) == {"errors": []}

    for bad, code in (
        (relay.to_base64("User", 9999), "NOT_FOUND"),
        ("not-an-id", "INVALID"),  # malformed: decode_id
        (relay.to_base64("Session", user.id), "INVALID"),
    ):
        answer = await gql.data(SEND, {"id": bad}, token=token)
        assert answer == {"sendPasswordResetEmail": {"errors": [{"field": "id", "code": code}]}}
    await services.mailer.drain()
    assert len(smtp.messages) == 2  # the link and the password-changed notice


async def test_create_user_without_password_mails_a_set_password_link(gql, db, smtp, services):
    admin = await make_user(services, "boss", admin=True, password=ADMIN_PASSWORD)
    token = await login_token(services, admin)
    created = await gql.data(
        """mutation { createUser(input: {username: "newcomer", email: "new@example.com",
           name: "New Comer", preferredLanguage: FR}) { user { id } errors { code } } }""",
        token=token,
    )
    assert created["createUser"]["errors"] == []
    [message] = await smtp.wait_for(1)
    assert message["To"] == "new@example.com"
    assert message["Subject"] == "Votre nouveau compte sur testserver"
    assert "newcomer" in body_text(message) and "72 heures" in body_text(message)
    user = await read_user(db, "newcomer")
    assert user is not None and user.password_hash is None
    [row] = await read_tokens(db, user_id=user.id)
    assert row.purpose is TokenPurpose.PASSWORD_RESET
    assert row.expires_at - row.created_at == dt.timedelta(hours=72)
    assert await reset(gql, token_in(message, "/reset-password")) == {"errors": []}
    login = await gql.data(
        'mutation ($p: String!) { login(username: "newcomer", password: $p) { accessToken errors { code } } }',
        {"p": NEW},
    )
    assert login["login"]["errors"] == [] and login["login"]["accessToken"]


async def test_unknown_addresses_take_comparable_time(gql, db, smtp, services):
    """Same answer and comparable time: medians over interleaved tries, generous margins."""
    tries = 11
    for i in range(tries):
        await make_user(services, f"known{i}")
    known: list[float] = []
    unknown: list[float] = []
    for i in range(tries):
        for address, samples in (
            (f"known{i}@example.com", known),
            (f"nobody{i}@example.com", unknown),
        ):
            started = time.perf_counter()
            assert await request(gql, address) == {"errors": []}
            samples.append(time.perf_counter() - started)
    await smtp.wait_for(tries)
    fast, slow = statistics.median(unknown), statistics.median(known)
    assert fast > slow / 3 - 0.002, (fast, slow)
    assert slow < fast * 3 + 0.01, (fast, slow)


async def test_a_link_used_twice_at_once_works_once(gql, db, smtp, services):
    await make_user(services, "ann")
    await request(gql, "ann@example.com")
    token = token_in((await smtp.wait_for(1))[0], "/reset-password")
    answers = await asyncio.gather(
        reset(gql, token, "first new password 1"), reset(gql, token, "second new password 2")
    )
    assert sorted(str(a["errors"]) for a in answers) == sorted(
        ["[]", str([{"field": "token", "code": "INVALID_TOKEN"}])]
    )
    winner = "first new password 1" if answers[0]["errors"] == [] else "second new password 2"
    after = await read_user(db, "ann")
    assert after is not None and await services.passwords.verify(after.password_hash, winner)
