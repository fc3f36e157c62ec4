"""Recent authentication (issue 11, point 1): the seven sensitive mutations ask for proof.

The "stolen access token" is a session that signed in longer ago than ``REAUTH_WINDOW``
(300 s): the tests sign in, then move the services' clock past the window (the access token
itself lives 900 s, so it still works). Every refusal is checked to have changed nothing in
the database, and every wrong password or code to have been counted by the login limiter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from stridegraph.db.models import ApiToken, LoginAttempt, MfaBackupCode, OneTimeToken, User
from stridegraph.db.models import Session as SessionRow
from tests.helpers import PASSWORD, login_token, make_user, scoped_token
from tests.mail_fixtures import mail_settings
from tests.mfa_support import SETUP, Clock, code_at, enrol, install_clock

WINDOW = 300
OLD = WINDOW + 1
WRONG = "not the password at all"

CREATE_TOKEN = """mutation($pw: String, $code: String) {
  createApiToken(name: "cli", scopes: ["profile:read"], currentPassword: $pw, code: $code) {
    token errors { field code message } } }"""
SETUP_MFA = """mutation($pw: String, $code: String) {
  setupMfa(currentPassword: $pw, code: $code) { secret errors { field code message } } }"""
ENABLE_MFA = """mutation($totp: String!, $pw: String) {
  enableMfa(code: $totp, currentPassword: $pw) { backupCodes errors { field code message } } }"""
DISABLE_MFA = """mutation($code: String!) {
  disableMfa(code: $code) { me { mfaEnabled } errors { field code message } } }"""
CHANGE_PASSWORD = """mutation($pw: String!, $code: String) {
  changePassword(currentPassword: $pw, newPassword: "a brand new password 9", code: $code) {
    user { username } errors { field code message } } }"""
REQUEST_EMAIL = """mutation($pw: String!, $code: String) {
  requestEmailChange(newEmail: "moved@example.com", currentPassword: $pw, code: $code) {
    errors { field code message } } }"""
DELETE_ME = """mutation($pw: String!, $code: String) {
  deleteMe(password: $pw, code: $code) { deletedUserId errors { field code message } } }"""
LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken refreshToken errors { code } } }"""
REFRESH = """mutation($t: String!) { refreshSession(refreshToken: $t) {
  accessToken errors { code } } }"""


@pytest.fixture
def settings(settings: Any, smtp: Any) -> Any:
    return mail_settings(settings, smtp)  # requestEmailChange needs mail


@pytest.fixture
def clock(services: Any) -> Clock:
    return install_clock(services)


@dataclass
class Account:
    user: Any
    token: str
    secret: str | None = None
    backup: list[str] | None = None


async def signed_in(services: Any, gql: Any, clock: Clock, name: str, *, mfa: bool = False):
    """A user and a session of theirs that has just signed in (MFA enrolled if asked)."""
    user = await make_user(services, name)
    token = await login_token(services, user)
    if not mfa:
        return Account(user, token)
    secret, backup = await enrol(gql, token, clock)
    clock.advance(30)  # the enabling step is spent; the next code is a fresh one
    return Account(user, token, secret, backup)


async def snapshot(db: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a sensitive mutation could touch, minus the last-used bookkeeping."""
    tables = {
        "users": User,
        "api_tokens": ApiToken,
        "sessions": SessionRow,
        "one_time_tokens": OneTimeToken,
        "mfa_backup_codes": MfaBackupCode,
    }
    found = {}
    async with db.engine.connect() as conn:
        for name, model in tables.items():
            rows = (await conn.execute(select(model).order_by(model.id))).all()
            found[name] = [
                tuple(v for k, v in r._mapping.items() if k != "last_used_at") for r in rows
            ]
    return found


async def attempts(db: Any) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(LoginAttempt)) or 0)


async def run(gql: Any, document: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    data = await gql.data(document, variables, token=token)
    (payload,) = data.values()
    return payload  # type: ignore[no-any-return]


def errors(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


# --------------------------------------------------------------------------- optional proof
#
# createApiToken, setupMfa and enableMfa take optional proof: without it only a recent
# sign-in passes. enableMfa needs a pending secret: ``prepare`` makes one while fresh.


@dataclass(frozen=True)
class Optional:
    document: str
    prepare: bool = False  # run setupMfa first (enableMfa)

    async def arrange(self, gql: Any, account: Account) -> str | None:
        if not self.prepare:
            return None
        setup = await run(gql, SETUP, {}, account.token)
        assert setup["errors"] == []
        return setup["secret"]  # type: ignore[no-any-return]

    def variables(self, clock: Clock, secret: str | None, **proof: Any) -> dict[str, Any]:
        if secret is not None:
            return {"totp": code_at(secret, clock.now), **proof}
        return proof

    def succeeded(self, payload: dict[str, Any]) -> bool:
        return payload["errors"] == [] and any(
            payload.get(k) for k in ("token", "secret", "backupCodes")
        )


OPTIONAL = {
    "createApiToken": Optional(CREATE_TOKEN),
    "setupMfa": Optional(SETUP_MFA),
    "enableMfa": Optional(ENABLE_MFA, prepare=True),
}


@pytest.mark.parametrize("name", sorted(OPTIONAL))
async def test_a_stale_session_without_proof_is_refused(name, gql, services, db, clock):
    op = OPTIONAL[name]
    account = await signed_in(services, gql, clock, "ann")
    secret = await op.arrange(gql, account)
    clock.advance(OLD)
    before, counted = await snapshot(db), await attempts(db)
    payload = await run(gql, op.document, op.variables(clock, secret), account.token)
    assert errors(payload) == [(None, "REAUTHENTICATION_REQUIRED")]
    assert "currentPassword" in payload["errors"][0]["message"]
    assert await snapshot(db) == before
    assert await attempts(db) == counted  # no guess was made


@pytest.mark.parametrize("name", sorted(OPTIONAL))
async def test_a_stale_session_with_the_password_passes(name, gql, services, db, clock):
    op = OPTIONAL[name]
    account = await signed_in(services, gql, clock, "ann")
    secret = await op.arrange(gql, account)
    clock.advance(OLD)
    payload = await run(gql, op.document, op.variables(clock, secret, pw=PASSWORD), account.token)
    assert op.succeeded(payload), payload
    assert await attempts(db) == 0  # a right password clears its reservation


@pytest.mark.parametrize("name", sorted(OPTIONAL))
async def test_a_fresh_session_needs_no_proof(name, gql, services, db, clock):
    op = OPTIONAL[name]
    account = await signed_in(services, gql, clock, "ann")
    secret = await op.arrange(gql, account)
    clock.advance(WINDOW - 5)
    payload = await run(gql, op.document, op.variables(clock, secret), account.token)
    assert op.succeeded(payload), payload


@pytest.mark.parametrize("name", sorted(OPTIONAL))
async def test_a_wrong_password_is_refused_and_counted(name, gql, services, db, clock):
    op = OPTIONAL[name]
    account = await signed_in(services, gql, clock, "ann")
    secret = await op.arrange(gql, account)
    before = await snapshot(db)
    # even within the window: a proof that is given must be right
    payload = await run(gql, op.document, op.variables(clock, secret, pw=WRONG), account.token)
    assert errors(payload) == [("currentPassword", "INVALID_CREDENTIALS")]
    assert await snapshot(db) == before
    assert await attempts(db) == 1


async def test_an_api_token_is_never_a_recent_sign_in(gql, services, db, clock):
    account = await signed_in(services, gql, clock, "ann")
    script = await scoped_token(services, account.user, ["profile:read", "profile:write"])
    before = await snapshot(db)
    refused = await run(gql, SETUP_MFA, {}, script)  # made this very second, still not recent
    assert errors(refused) == [(None, "REAUTHENTICATION_REQUIRED")]
    assert await snapshot(db) == before
    passed = await run(gql, SETUP_MFA, {"pw": PASSWORD}, script)
    assert passed["errors"] == [] and passed["secret"]


async def test_a_code_is_no_proof_without_mfa(gql, services, db, clock):
    account = await signed_in(services, gql, clock, "ann")
    clock.advance(OLD)
    before, counted = await snapshot(db), await attempts(db)
    payload = await run(gql, CREATE_TOKEN, {"code": "123456"}, account.token)
    assert errors(payload) == [("code", "MFA_NOT_ENABLED")]
    assert await snapshot(db) == before and await attempts(db) == counted


async def test_an_mfa_user_proves_it_with_a_totp_or_a_backup_code(gql, services, db, clock):
    account = await signed_in(services, gql, clock, "ann", mfa=True)
    assert account.secret is not None and account.backup is not None
    clock.advance(OLD)
    refused = await run(gql, CREATE_TOKEN, {}, account.token)
    assert errors(refused) == [(None, "REAUTHENTICATION_REQUIRED")]
    assert "code" in refused["errors"][0]["message"]  # tells an MFA user a code will do

    before = await snapshot(db)
    wrong = await run(gql, CREATE_TOKEN, {"code": "000000"}, account.token)
    assert errors(wrong) == [("code", "INVALID_CODE")]
    assert await snapshot(db) == before and await attempts(db) == 1

    totp = code_at(account.secret, clock.now)
    assert (await run(gql, CREATE_TOKEN, {"code": totp}, account.token))["token"]
    replayed = await run(gql, CREATE_TOKEN, {"code": totp}, account.token)
    assert errors(replayed) == [("code", "INVALID_CODE")]  # a TOTP step is used once

    backup = account.backup[0]
    assert (await run(gql, CREATE_TOKEN, {"code": backup}, account.token))["token"]
    spent = await run(gql, CREATE_TOKEN, {"code": backup}, account.token)
    assert errors(spent) == [("code", "INVALID_CODE")]
    assert (await run(gql, CREATE_TOKEN, {"pw": PASSWORD}, account.token))["token"]


async def test_failed_proofs_share_the_login_limit(gql, services, db, clock):
    account = await signed_in(services, gql, clock, "ann")
    clock.advance(OLD)
    for _ in range(services.settings.login_max_failures_account):
        payload = await run(gql, CREATE_TOKEN, {"pw": WRONG}, account.token)
        assert errors(payload) == [("currentPassword", "INVALID_CREDENTIALS")]
    before = await snapshot(db)
    locked = await run(gql, CREATE_TOKEN, {"pw": PASSWORD}, account.token)
    assert errors(locked) == [(None, "TOO_MANY_ATTEMPTS")]
    signing_in = await gql.data(LOGIN, {"u": "ann", "p": PASSWORD})
    assert signing_in["login"]["errors"] == [{"code": "TOO_MANY_ATTEMPTS"}]
    assert await snapshot(db) == before


async def test_refreshing_does_not_make_a_session_recent(gql, services, db, clock):
    await make_user(services, "ann")
    signed = (await gql.data(LOGIN, {"u": "ann", "p": PASSWORD}))["login"]
    clock.advance(OLD)
    rotated = (await gql.data(REFRESH, {"t": signed["refreshToken"]}))["refreshSession"]
    assert rotated["errors"] == []
    before = await snapshot(db)
    payload = await run(gql, CREATE_TOKEN, {}, rotated["accessToken"])
    assert errors(payload) == [(None, "REAUTHENTICATION_REQUIRED")]
    assert await snapshot(db) == before
    again = (await gql.data(LOGIN, {"u": "ann", "p": PASSWORD}))["login"]  # a real sign-in
    assert (await run(gql, CREATE_TOKEN, {}, again["accessToken"]))["token"]


async def test_the_window_is_configurable(gql, services, db, clock):
    services.settings = services.settings.with_(reauth_window_seconds=0)
    account = await signed_in(services, gql, clock, "ann")
    payload = await run(gql, CREATE_TOKEN, {}, account.token)  # signed in this very instant
    assert errors(payload) == [(None, "REAUTHENTICATION_REQUIRED")]
    assert (await run(gql, CREATE_TOKEN, {"pw": PASSWORD}, account.token))["token"]


# --------------------------------------------------------------------------- required proof
#
# changePassword, requestEmailChange and deleteMe require the password, disableMfa a code:
# the contract makes them required, so a thief always has to send one, and it is checked
# by the same rule (counted, and right even within the window).


REQUIRED_PASSWORD = {
    "changePassword": CHANGE_PASSWORD,
    "requestEmailChange": REQUEST_EMAIL,
    "deleteMe": DELETE_ME,
}


def password_field(name: str) -> str:
    return "password" if name == "deleteMe" else "currentPassword"


@pytest.mark.parametrize("name", sorted(REQUIRED_PASSWORD))
@pytest.mark.parametrize("age", [0, OLD])
async def test_a_wrong_password_is_refused_and_counted_at_any_age(
    name, age, gql, services, db, clock
):
    account = await signed_in(services, gql, clock, "ann")
    clock.advance(age)
    before = await snapshot(db)
    payload = await run(gql, REQUIRED_PASSWORD[name], {"pw": WRONG}, account.token)
    assert errors(payload) == [(password_field(name), "INVALID_CREDENTIALS")]
    assert await snapshot(db) == before
    assert await attempts(db) == 1


@pytest.mark.parametrize("name", sorted(REQUIRED_PASSWORD))
async def test_the_password_is_proof_at_any_age(name, gql, services, db, clock):
    account = await signed_in(services, gql, clock, "ann")
    clock.advance(OLD)
    before = await snapshot(db)
    payload = await run(gql, REQUIRED_PASSWORD[name], {"pw": PASSWORD}, account.token)
    assert payload["errors"] == []
    assert await snapshot(db) != before
    assert await attempts(db) == 0


@pytest.mark.parametrize("name", sorted(REQUIRED_PASSWORD))
async def test_an_mfa_users_code_when_given_must_be_right(name, gql, services, db, clock):
    account = await signed_in(services, gql, clock, "ann", mfa=True)
    assert account.secret is not None
    clock.advance(OLD)
    before = await snapshot(db)
    wrong = await run(
        gql, REQUIRED_PASSWORD[name], {"pw": PASSWORD, "code": "000000"}, account.token
    )
    assert errors(wrong) == [("code", "INVALID_CODE")]
    assert await snapshot(db) == before
    assert await attempts(db) == 1
    code = code_at(account.secret, clock.now)
    right = await run(gql, REQUIRED_PASSWORD[name], {"pw": PASSWORD, "code": code}, account.token)
    assert right["errors"] == []


@pytest.mark.parametrize("age", [0, OLD])
async def test_disable_mfa_takes_its_code_through_the_same_rule(age, gql, services, db, clock):
    account = await signed_in(services, gql, clock, "ann", mfa=True)
    assert account.secret is not None
    clock.advance(age)
    before = await snapshot(db)
    wrong = await run(gql, DISABLE_MFA, {"code": "000000"}, account.token)
    assert errors(wrong) == [("code", "INVALID_CODE")]
    assert await snapshot(db) == before
    assert await attempts(db) == 1
    right = await run(gql, DISABLE_MFA, {"code": code_at(account.secret, clock.now)}, account.token)
    assert right == {"me": {"mfaEnabled": False}, "errors": []}


async def test_an_api_token_changes_the_password_with_the_password(gql, services, db, clock):
    account = await signed_in(services, gql, clock, "ann")
    script = await scoped_token(services, account.user, ["profile:read", "profile:write"])
    wrong = await run(gql, CHANGE_PASSWORD, {"pw": WRONG}, script)
    assert errors(wrong) == [("currentPassword", "INVALID_CREDENTIALS")]
    right = await run(gql, CHANGE_PASSWORD, {"pw": PASSWORD}, script)
    assert right == {"user": {"username": "ann"}, "errors": []}
