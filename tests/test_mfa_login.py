"""Login with MFA on: the challenge, completeMfaLogin, replay, backup codes, rate limits and
the MFA token's uselessness as a bearer token (issue 6, point 3)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update
from strawberry import relay

from stridegraph.db.models import LoginAttempt, User
from stridegraph.domain import mfa, tokens
from stridegraph.domain.errors import Unauthenticated
from stridegraph.domain.unit import open_unit
from stridegraph.domain.viewer import resolve_bearer
from tests.conftest import share_app_per_module
from tests.helpers import PASSWORD, login_token, make_user
from tests.mfa_support import COMPLETE, RESET, code_at, codes_of, enrol, install_clock, mfa_state

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()

LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken refreshToken mfaRequired mfaToken errors { field code message } } }"""
ME = "query { me { username mfaEnabled } }"


@pytest.fixture
def clock(services):
    return install_clock(services)


@pytest.fixture
async def enrolled(gql, services, clock):
    """Alice with MFA on; her secret and backup codes. The enrolment step is past."""
    user = await make_user(services, "alice")
    secret, backup = await enrol(gql, await login_token(services, user), clock)
    clock.advance(60)
    return user, secret, backup


async def password_step(gql, username: str = "alice") -> dict:
    return (await gql.data(LOGIN, {"u": username, "p": PASSWORD}))["login"]


async def complete(gql, mfa_token: str, code: str) -> dict:
    return (await gql.data(COMPLETE, {"t": mfa_token, "c": code}))["completeMfaLogin"]


async def attempts(db) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(LoginAttempt)) or 0)


async def test_login_with_mfa_answers_a_challenge_and_no_session(gql, db, enrolled):
    user, _, _ = enrolled
    sessions_before = (await mfa_state(db, user.id)).sessions
    answer = await password_step(gql)
    assert answer["errors"] == [] and answer["mfaRequired"] is True
    assert answer["accessToken"] is None and answer["refreshToken"] is None
    assert answer["mfaToken"].startswith(tokens.MFA_LOGIN)
    state = await mfa_state(db, user.id)
    assert state.sessions == sessions_before and state.login_tokens == 1


async def test_complete_with_a_totp_opens_a_session(gql, db, enrolled, clock):
    user, secret, _ = enrolled
    challenge = (await password_step(gql))["mfaToken"]
    sessions_before = (await mfa_state(db, user.id)).sessions
    answer = await complete(gql, challenge, code_at(secret, clock.now))
    assert answer["errors"] == []
    assert answer["accessToken"].startswith(tokens.ACCESS)
    assert answer["refreshToken"].startswith(tokens.REFRESH)
    assert answer["expiresAt"] is not None
    assert answer["user"] == {"username": "alice", "mfaEnabled": True}
    me = (await gql.data(ME, token=answer["accessToken"]))["me"]
    assert me == {"username": "alice", "mfaEnabled": True}
    state = await mfa_state(db, user.id)
    assert state.sessions == sessions_before + 1 and state.login_tokens == 0


async def test_the_mfa_token_is_single_use(gql, db, enrolled, clock):
    user, secret, _ = enrolled
    challenge = (await password_step(gql))["mfaToken"]
    assert (await complete(gql, challenge, code_at(secret, clock.now)))["errors"] == []
    clock.advance(30)
    before = await mfa_state(db, user.id)
    again = await complete(gql, challenge, code_at(secret, clock.now))
    assert [(e["field"], e["code"]) for e in again["errors"]] == [("mfaToken", "INVALID_TOKEN")]
    assert again["accessToken"] is None
    assert await mfa_state(db, user.id) == before


async def test_an_expired_mfa_token_is_refused(gql, db, enrolled, clock):
    user, secret, _ = enrolled
    challenge = (await password_step(gql))["mfaToken"]
    clock.advance(5 * 60 + 1)
    before = await mfa_state(db, user.id)
    answer = await complete(gql, challenge, code_at(secret, clock.now))
    assert codes_of(answer) == ["INVALID_TOKEN"] and answer["accessToken"] is None
    assert await mfa_state(db, user.id) == before


@pytest.mark.parametrize("kind", ["garbage", "access token", "made-up", "empty"])
async def test_a_malformed_mfa_token_is_refused(gql, db, services, enrolled, clock, kind):
    user, secret, _ = enrolled
    access = await login_token(services, user)
    token = {
        "garbage": "not a token",
        "access token": access,
        "made-up": tokens.new_secret(tokens.MFA_LOGIN),
        "empty": "",
    }[kind]
    before = await mfa_state(db, user.id)
    answer = await complete(gql, token, code_at(secret, clock.now))
    assert codes_of(answer) == ["INVALID_TOKEN"]
    assert await mfa_state(db, user.id) == before


@pytest.mark.parametrize("kind", ["wrong", "too old", "too new", "malformed", "made-up backup"])
async def test_a_bad_code_opens_no_session_and_keeps_the_challenge(gql, db, enrolled, clock, kind):
    user, secret, _ = enrolled
    challenge = (await password_step(gql))["mfaToken"]
    good = code_at(secret, clock.now)
    code = {
        "wrong": f"{(int(good) + 500_000) % 1_000_000:06d}",
        "too old": code_at(secret, clock.now, -2),
        "too new": code_at(secret, clock.now, 2),
        "malformed": "12 34 5x",
        "made-up backup": "abcde-fghjk",
    }[kind]
    before = await mfa_state(db, user.id)
    answer = await complete(gql, challenge, code)
    assert answer["errors"] == [
        {"field": "code", "code": "INVALID_CODE", "message": "The code is not valid."}
    ]
    assert answer["accessToken"] is None and answer["user"] is None
    assert await mfa_state(db, user.id) == before
    assert (await complete(gql, challenge, good))["errors"] == []


@pytest.mark.parametrize("steps", [-1, 0, 1])
async def test_a_totp_within_one_step_is_accepted(gql, enrolled, clock, steps):
    _, secret, _ = enrolled
    challenge = (await password_step(gql))["mfaToken"]
    answer = await complete(gql, challenge, code_at(secret, clock.now, steps))
    assert answer["errors"] == [] and answer["accessToken"]


async def test_a_replayed_totp_is_invalid_code(gql, db, enrolled, clock):
    user, secret, _ = enrolled
    code = code_at(secret, clock.now)
    first = (await password_step(gql))["mfaToken"]
    assert (await complete(gql, first, code))["errors"] == []
    clock.advance(10)  # same time step, new login
    second = (await password_step(gql))["mfaToken"]
    before = await mfa_state(db, user.id)
    answer = await complete(gql, second, code)
    assert codes_of(answer) == ["INVALID_CODE"] and answer["accessToken"] is None
    assert await mfa_state(db, user.id) == before
    # an older step's code is a replay too; the next step's is fine
    assert codes_of(await complete(gql, second, code_at(secret, clock.now, -1))) == ["INVALID_CODE"]
    assert (await complete(gql, second, code_at(secret, clock.now, 1)))["errors"] == []


async def test_a_backup_code_signs_in_once(gql, db, enrolled):
    user, _, backup = enrolled
    first = (await password_step(gql))["mfaToken"]
    assert (await complete(gql, first, backup[7]))["errors"] == []
    state = await mfa_state(db, user.id)
    assert sum(used is not None for _, used in state.backup_codes) == 1
    second = (await password_step(gql))["mfaToken"]
    before = await mfa_state(db, user.id)
    answer = await complete(gql, second, backup[7])
    assert codes_of(answer) == ["INVALID_CODE"]
    assert await mfa_state(db, user.id) == before
    assert (await complete(gql, second, backup[8]))["errors"] == []


async def test_concurrent_completions_with_one_code_open_one_session(gql, db, enrolled, clock):
    user, secret, _ = enrolled
    challenges = [(await password_step(gql))["mfaToken"] for _ in range(2)]
    code = code_at(secret, clock.now)
    sessions_before = (await mfa_state(db, user.id)).sessions
    bodies = await asyncio.gather(*(gql.execute(COMPLETE, {"t": t, "c": code}) for t in challenges))
    answers = [b["data"]["completeMfaLogin"] for b in bodies]
    outcomes = sorted("session" if a["accessToken"] else codes_of(a)[0] for a in answers)
    assert outcomes == ["INVALID_CODE", "session"], bodies
    assert (await mfa_state(db, user.id)).sessions == sessions_before + 1


async def test_failed_codes_count_toward_the_login_rate_limit(gql, db, services, enrolled, clock):
    user, secret, _ = enrolled
    limit = services.settings.login_max_failures_account
    challenge = (await password_step(gql))["mfaToken"]
    good = code_at(secret, clock.now)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for _ in range(limit):
        assert codes_of(await complete(gql, challenge, wrong)) == ["INVALID_CODE"]
    assert await attempts(db) == limit  # recorded although each answer rolled back
    before = await mfa_state(db, user.id)
    locked = await complete(gql, challenge, good)
    assert codes_of(locked) == ["TOO_MANY_ATTEMPTS"] and locked["accessToken"] is None
    assert locked["errors"][0]["field"] is None
    assert await mfa_state(db, user.id) == before
    assert codes_of(await password_step(gql)) == ["TOO_MANY_ATTEMPTS"]


async def test_a_password_login_does_not_reset_failed_codes(gql, db, services, enrolled, clock):
    """Knowing the password must not buy fresh code guesses: the account's count is reset
    only when the second factor succeeds."""
    _, secret, _ = enrolled
    limit = services.settings.login_max_failures_account
    wrong = f"{(int(code_at(secret, clock.now)) + 1) % 1_000_000:06d}"
    failures = 0
    while failures < limit - 1:
        challenge = (await password_step(gql))["mfaToken"]
        assert challenge, "a password login was refused before the limit"
        assert codes_of(await complete(gql, challenge, wrong)) == ["INVALID_CODE"]
        failures += 1
    challenge = (await password_step(gql))["mfaToken"]
    assert codes_of(await complete(gql, challenge, wrong)) == ["INVALID_CODE"]
    assert codes_of(await complete(gql, challenge, code_at(secret, clock.now))) == [
        "TOO_MANY_ATTEMPTS"
    ]


async def test_a_good_code_resets_the_accounts_count(gql, db, enrolled, clock):
    _, secret, _ = enrolled
    challenge = (await password_step(gql))["mfaToken"]
    wrong = f"{(int(code_at(secret, clock.now)) + 1) % 1_000_000:06d}"
    assert codes_of(await complete(gql, challenge, wrong)) == ["INVALID_CODE"]
    assert await attempts(db) == 1
    assert (await complete(gql, challenge, code_at(secret, clock.now)))["errors"] == []
    assert await attempts(db) == 0


async def test_an_mfa_token_is_not_a_bearer_token(gql, services, enrolled):
    challenge = (await password_step(gql))["mfaToken"]
    body = await gql.execute(ME, token=challenge)
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    async with open_unit(services) as unit:
        with pytest.raises(Unauthenticated):
            await unit.run(resolve_bearer, token=challenge)


async def test_turning_mfa_off_voids_open_challenges(gql, db, services, enrolled, clock):
    user, secret, _ = enrolled
    challenge = (await password_step(gql))["mfaToken"]
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    reset = await gql.data(
        RESET, {"id": relay.to_base64("User", user.id)}, token=await login_token(services, admin)
    )
    assert reset["resetUserMfa"]["errors"] == []
    answer = await complete(gql, challenge, code_at(secret, clock.now))
    assert codes_of(answer) == ["INVALID_TOKEN"]


async def test_a_deactivated_account_cannot_complete(gql, db, enrolled, clock):
    user, secret, _ = enrolled
    challenge = (await password_step(gql))["mfaToken"]
    async with db.engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user.id).values(active=False))
    before = await mfa_state(db, user.id)
    answer = await complete(gql, challenge, code_at(secret, clock.now))
    assert codes_of(answer) == ["INVALID_TOKEN"] and answer["accessToken"] is None
    assert await mfa_state(db, user.id) == before


async def test_start_challenge_stores_only_a_digest_and_expires_in_five_minutes(
    db, services, enrolled, clock
):
    user, _, _ = enrolled
    async with open_unit(services) as unit:
        fresh = await unit.session.get(User, user.id)
        token = await unit.transaction(mfa.start_challenge, user=fresh)
    async with open_unit(services) as unit:
        challenge, owner = await unit.run(mfa.challenged_user, mfa_token=token)
        assert owner.id == user.id
        assert challenge.token_hash == tokens.digest(services.settings.secret_key, token)
        assert token.encode() not in challenge.token_hash
        assert challenge.expires_at - clock.now == mfa.CHALLENGE_TTL
