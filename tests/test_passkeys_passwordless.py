"""Passwordless accounts (issue 16, point 4): the mailed set-password link registers a
passkey instead of a password, and the server setting decides whether signUp may leave the
password out. Real SMTP (aiosmtpd), a software authenticator, both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from strawberry import relay

from stridegraph.db.models import Passkey, SecurityEvent
from stridegraph.domain.unit import open_unit
from tests.helpers import login_token, make_user
from tests.mail_fixtures import mail_settings, read_user, set_server_settings, token_in
from tests.mfa_support import codes_of
from tests.webauthn_support import (
    SoftAuthenticator,
    finish_login,
    login_options,
)

START = """mutation($t: String) { startPasskeyRegistration(token: $t) {
  options errors { field code message } } }"""
FINISH = """mutation($c: JSON!, $t: String) { finishPasskeyRegistration(credential: $c, token: $t) {
  passkey { name } errors { field code message } } }"""
CREATE = """mutation($input: CreateUserInput!) { createUser(input: $input) {
  user { id } errors { code } } }"""
SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) {
  status errors { field code message } } }"""
RESET = "/reset-password"


@pytest.fixture
def settings(settings, smtp):
    return mail_settings(settings, smtp).with_(passwordless_signup=True)


async def passkeys_of(services, user_id: int) -> list[Passkey]:
    async with open_unit(services) as unit:
        rows = await unit.session.scalars(select(Passkey).where(Passkey.user_id == user_id))
        return list(rows.all())


async def link_for(smtp, address: str) -> str:
    [message] = [m for m in smtp.to(address) if "reset-password" in str(m)]
    return token_in(message, RESET)


async def test_the_set_password_link_registers_a_passkey(gql, services, db, smtp):
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    created = await gql.data(
        CREATE,
        {"input": {"username": "invited", "email": "invited@example.com", "name": "Invited"}},
        token=await login_token(services, admin),
    )
    user_id = int(relay.from_base64(created["createUser"]["user"]["id"])[1])
    await smtp.wait_for(1)
    link = await link_for(smtp, "invited@example.com")
    # anonymous, with the link: options for the invited account
    started = (await gql.data(START, {"t": link}))["startPasskeyRegistration"]
    assert started["errors"] == []
    assert started["options"]["user"]["name"] == "invited"
    authenticator = SoftAuthenticator()
    credential = authenticator.create(started["options"])
    # a wrong link changes nothing, and the right one still works afterwards
    wrong = (await gql.data(FINISH, {"c": credential, "t": "sgo_" + "x" * 43}))[
        "finishPasskeyRegistration"
    ]
    assert codes_of(wrong) == ["INVALID_TOKEN"]
    assert await passkeys_of(services, user_id) == []
    done = (await gql.data(FINISH, {"c": credential, "t": link}))["finishPasskeyRegistration"]
    assert done["errors"] == [] and done["passkey"]["name"] == "Passkey"
    assert len(await passkeys_of(services, user_id)) == 1
    # recorded as the invited user's own action (nobody is signed in), and mailed to them
    async with open_unit(services) as unit:
        added = (
            await unit.session.scalars(
                select(SecurityEvent).where(SecurityEvent.type == "PASSKEY_ADDED")
            )
        ).all()
    assert [(e.subject_id, e.actor_id, e.session_id) for e in added] == [(user_id, user_id, None)]
    assert added[0].detail["viaLink"] is True
    (mail,) = [m for m in await smtp.wait_for(2) if "passkey" in m["Subject"]]
    assert mail["To"].addresses[0].addr_spec == "invited@example.com"
    # the link is spent, for a passkey and for a password alike
    again = (await gql.data(START, {"t": link}))["startPasskeyRegistration"]
    assert codes_of(again) == ["INVALID_TOKEN"]
    reset = await gql.data(
        'mutation($t: String!) { resetPassword(token: $t, newPassword: "a long new password 1A!")'
        " { errors { code } } }",
        {"t": link},
    )
    assert codes_of(reset["resetPassword"]) == ["INVALID_TOKEN"]
    # and the passkey signs in; it is the only method, so it cannot be deleted
    result = await finish_login(gql, authenticator.get(await login_options(gql, "invited")))
    assert result["errors"] == [] and result["accessToken"]
    [row] = await passkeys_of(services, user_id)
    refused = await gql.data(
        "mutation($id: ID!) { deletePasskey(id: $id) { errors { code } } }",
        {"id": relay.to_base64("Passkey", row.id)},
        token=result["accessToken"],
    )
    assert codes_of(refused["deletePasskey"]) == ["LAST_SIGN_IN_METHOD"]


async def test_without_a_link_registration_needs_a_session(gql, services):
    body = await gql.execute(START, {"t": None})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    bad = (await gql.data(START, {"t": "not a token"}))["startPasskeyRegistration"]
    assert codes_of(bad) == ["INVALID_TOKEN"]


async def test_passwordless_sign_up(gql, services, db, smtp):
    await set_server_settings(db, signup_enabled=True)
    answer = (
        await gql.data(
            SIGN_UP,
            {"input": {"username": "runner", "email": "runner@example.com", "name": "Runner"}},
        )
    )["signUp"]
    assert answer == {"status": "EMAIL_VERIFICATION_REQUIRED", "errors": []}
    user = await read_user(db, "runner")
    assert user is not None and not user.email_verified
    await smtp.wait_for(2)  # the verification link and the set-password link
    link = await link_for(smtp, "runner@example.com")
    started = (await gql.data(START, {"t": link}))["startPasskeyRegistration"]
    authenticator = SoftAuthenticator()
    done = (await gql.data(FINISH, {"c": authenticator.create(started["options"]), "t": link}))[
        "finishPasskeyRegistration"
    ]
    assert done["errors"] == []
    user = await read_user(db, "runner")
    assert user is not None and user.email_verified  # the link reached the address
    result = await finish_login(gql, authenticator.get(await login_options(gql)))
    assert result["errors"] == [] and result["user"]["username"] == "runner"
    shown = await gql.data("{ serverSettings { passwordlessSignup } }")
    assert shown["serverSettings"]["passwordlessSignup"] is True


async def test_passwordless_sign_up_needs_the_setting(gql, services, db, smtp):
    services.settings = services.settings.with_(passwordless_signup=False)
    await set_server_settings(db, signup_enabled=True)
    answer = (
        await gql.data(
            SIGN_UP,
            {"input": {"username": "runner", "email": "runner@example.com", "name": "Runner"}},
        )
    )["signUp"]
    assert codes_of(answer) == ["REQUIRED"] and answer["errors"][0]["field"] == "password"
    assert await read_user(db, "runner") is None
    shown = await gql.data("{ serverSettings { passwordlessSignup } }")
    assert shown["serverSettings"]["passwordlessSignup"] is False
