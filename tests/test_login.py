"""``login``: tokens, failures that reveal nothing, account states, rehashing, the MFA hook."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import func, select, update

from stridegraph.db.models import LoginAttempt, OneTimeToken, Session, User
from stridegraph.domain import login as login_domain
from stridegraph.domain import tokens
from stridegraph.domain.errors import DomainError, ErrorCode
from stridegraph.domain.mail import Mailer
from stridegraph.domain.passwords import PasswordService
from stridegraph.domain.unit import open_unit
from tests.helpers import PASSWORD, make_user

LOGIN = """
mutation($u: String!, $p: String!) {
  login(username: $u, password: $p) {
    accessToken refreshToken expiresAt refreshExpiresAt mfaRequired mfaToken
    user { id username email }
    errors { field code message retryAfterSeconds }
  }
}
"""


async def login(gql, username, password, **kw):
    return (await gql.data(LOGIN, {"u": username, "p": password}, **kw))["login"]


async def count(db, model, *where) -> int:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model).where(*where))).scalar()


async def read_user(db, user_id: int):
    async with db.engine.connect() as conn:
        return (await conn.execute(select(User.__table__).where(User.id == user_id))).one()


def parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


async def test_login_by_username_returns_working_tokens(gql, services, db):
    user = await make_user(services, "Alice")
    before = dt.datetime.now(dt.UTC)
    payload = await login(gql, "aLiCe", PASSWORD, headers={"User-Agent": "pytest-agent/1"})
    assert payload["errors"] == []
    assert payload["mfaRequired"] is False and payload["mfaToken"] is None
    assert payload["user"]["username"] == "Alice"
    access, refresh = payload["accessToken"], payload["refreshToken"]
    # 256 random bits (43 url-safe characters) behind a prefix that says what it is
    assert access.startswith("sga_") and len(access) == 4 + 43
    assert refresh.startswith("sgr_") and len(refresh) == 4 + 43
    ttl = parse(payload["expiresAt"]) - before
    assert dt.timedelta(minutes=14) < ttl <= dt.timedelta(minutes=15, seconds=5)
    refresh_ttl = parse(payload["refreshExpiresAt"]) - before
    assert dt.timedelta(days=29, hours=23) < refresh_ttl <= dt.timedelta(days=30, seconds=5)
    me = await gql.data("{ me { username } }", token=access)
    assert me == {"me": {"username": "Alice"}}
    # only HMAC digests are stored
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(Session).where(Session.user_id == user.id))).one()
    secret = services.settings.secret_key
    assert row.access_token_hash == tokens.digest(secret, access)
    assert row.refresh_token_hash == tokens.digest(secret, refresh)
    assert row.user_agent == "pytest-agent/1" and row.client_address == "127.0.0.1"


async def test_login_by_email_case_insensitive(gql, services):
    await make_user(services, "bob", email="Bob@Example.com")
    payload = await login(gql, "  bob@EXAMPLE.com ", PASSWORD)
    assert payload["errors"] == [] and payload["user"]["email"] == "Bob@Example.com"


async def test_access_lifetime_is_configurable(services):
    user = await make_user(services, "carol")
    short = dataclasses.replace(
        services, settings=services.settings.with_(access_token_ttl_seconds=120)
    )
    async with open_unit(short) as unit:
        result = await unit.transaction(
            login_domain.login, username="carol", password=PASSWORD, client_address="10.0.0.1"
        )
    issued = result.session
    assert result.user.id == user.id
    ttl = issued.access_expires_at - issued.session.created_at
    assert ttl == dt.timedelta(seconds=120)


async def test_unknown_user_and_wrong_password_are_the_same_answer(gql, services, db):
    await make_user(services, "dave")
    await make_user(services, "nopass", password=None)
    wrong = await login(gql, "dave", "not the password")
    unknown = await login(gql, "nobody", "not the password")
    unknown_mail = await login(gql, "nobody@example.com", "not the password")
    no_password = await login(gql, "nopass", "")
    no_password_set = await login(gql, "nopass", "anything at all")
    expected = [
        {
            "field": None,
            "code": "INVALID_CREDENTIALS",
            "message": "The username or password is incorrect.",
            "retryAfterSeconds": None,
        }
    ]
    for payload in (wrong, unknown, unknown_mail, no_password_set):
        assert payload["errors"] == expected
        assert payload["accessToken"] is None and payload["user"] is None
    assert no_password["errors"][0]["code"] == "REQUIRED"
    assert await count(db, Session) == 0
    # every failure was recorded for the rate limits, known account or not
    assert await count(db, LoginAttempt) == 4


async def test_required_fields(gql, services, db):
    payload = await login(gql, " ", "")
    assert {(e["field"], e["code"]) for e in payload["errors"]} == {
        ("username", "REQUIRED"),
        ("password", "REQUIRED"),
    }
    assert await count(db, LoginAttempt) == 0


@pytest.mark.parametrize(
    ("flags", "code"),
    [
        ({"active": False}, "ACCOUNT_INACTIVE"),
        ({"pending_admin_approval": True, "active": False}, "PENDING_APPROVAL"),
        ({"pending_admin_approval": True}, "PENDING_APPROVAL"),
    ],
)
async def test_account_state_only_after_a_correct_password(gql, services, db, flags, code):
    user = await make_user(services, "erin", **flags)
    wrong = await login(gql, "erin", "wrong password")
    assert [e["code"] for e in wrong["errors"]] == ["INVALID_CREDENTIALS"]
    right = await login(gql, "erin", PASSWORD)
    assert [e["code"] for e in right["errors"]] == [code]
    assert right["accessToken"] is None
    assert await count(db, Session) == 0
    stored = await read_user(db, user.id)
    assert stored.password_hash == user.password_hash


async def test_email_not_verified_only_when_the_server_requires_it(services, db):
    await make_user(services, "frank", email_verified=False)
    # mail disabled: verification cannot be required, so the login goes through
    async with open_unit(services) as unit:
        result = await unit.transaction(
            login_domain.login, username="frank", password=PASSWORD, client_address="10.0.0.2"
        )
    assert result.session is not None
    with_mail = dataclasses.replace(
        services, mailer=Mailer("smtp://127.0.0.1:2525", "x <x@example.com>")
    )
    async with open_unit(with_mail) as unit:
        with pytest.raises(DomainError) as wrong:
            await unit.transaction(
                login_domain.login, username="frank", password="nope", client_address="10.0.0.2"
            )
        with pytest.raises(DomainError) as right:
            await unit.transaction(
                login_domain.login, username="frank", password=PASSWORD, client_address="10.0.0.2"
            )
    assert [p.code for p in wrong.value.problems] == [ErrorCode.INVALID_CREDENTIALS]
    assert [p.code for p in right.value.problems] == [ErrorCode.EMAIL_NOT_VERIFIED]
    assert await count(db, Session) == 1


async def test_login_rehashes_an_outdated_hash(gql, services, db):
    user = await make_user(services, "gina")
    old = PasswordService(services.settings.with_(argon2_time_cost=2, argon2_memory_cost=2048))
    try:
        old_hash = await old.hash(PASSWORD)
    finally:
        old.close()
    async with db.engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user.id).values(password_hash=old_hash))
    assert services.passwords.needs_rehash(old_hash)
    # a wrong password changes nothing
    assert (await login(gql, "gina", "wrong password"))["errors"][0]["code"] == (
        "INVALID_CREDENTIALS"
    )
    assert (await read_user(db, user.id)).password_hash == old_hash
    payload = await login(gql, "gina", PASSWORD)
    assert payload["errors"] == []
    new_hash = (await read_user(db, user.id)).password_hash
    assert new_hash != old_hash
    assert not services.passwords.needs_rehash(new_hash)
    assert "m=1024,t=1,p=1" in new_hash
    assert (await login(gql, "gina", PASSWORD))["errors"] == []
    # an up-to-date hash is left alone
    assert (await read_user(db, user.id)).password_hash == new_hash


async def test_mfa_user_gets_a_challenge_not_a_session(gql, services, db):
    user = await make_user(services, "hank")
    async with db.engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user.id).values(mfa_enabled=True))
    wrong = await login(gql, "hank", "wrong password")
    assert wrong["errors"][0]["code"] == "INVALID_CREDENTIALS" and wrong["mfaToken"] is None
    payload = await login(gql, "hank", PASSWORD)
    assert payload["errors"] == []
    assert payload["mfaRequired"] is True
    assert payload["mfaToken"].startswith("sgm_")
    assert payload["accessToken"] is None and payload["refreshToken"] is None
    assert payload["user"] is None
    assert await count(db, Session) == 0
    assert await count(db, OneTimeToken, OneTimeToken.user_id == user.id) == 1


async def test_finish_login_rechecks_the_account(services, db):
    """The entry point MFA calls after a good code."""
    user = await make_user(services, "ivan")
    async with open_unit(services) as unit:
        issued = await unit.transaction(
            login_domain.finish_login, user=user, user_agent="ua", client_address="10.0.0.3"
        )
    assert issued.access_token.startswith("sga_")
    async with db.engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user.id).values(active=False))
    async with open_unit(services) as unit:
        fresh = await unit.session.get(User, user.id)
        with pytest.raises(DomainError) as refused:
            await unit.transaction(
                login_domain.finish_login, user=fresh, user_agent="ua", client_address="x"
            )
    assert refused.value.problems[0].code is ErrorCode.ACCOUNT_INACTIVE
    assert await count(db, Session) == 1
