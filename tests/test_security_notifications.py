"""Security mail (issue 18, point 3): a sign-in from a new device or address, a password
change, MFA turned off, a new API token; through the outbox, in the user's language, linking
to the security page; opt-outs per kind except password and MFA changes."""

from __future__ import annotations

import ipaddress

import pytest

from stridegraph.db.enums import Language
from stridegraph.domain.security_alerts import SECURITY_PATH
from tests.helpers import PASSWORD, login_token, make_user
from tests.smtp import body_text, links
from tests.webauthn_support import (
    FINISH_REGISTRATION,
    START_REGISTRATION,
    SoftAuthenticator,
    register,
)

FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken errors { code } } }"""
OPT_OUT = """mutation($off: [SecurityNotification!]!) {
  updateSecurityNotifications(turnedOff: $off) { settings { turnedOff } errors { code } } }"""
MINE = "{ mySecurityNotifications { turnedOff optional } }"
CHANGE_PASSWORD = """mutation($c: String!, $n: String!) {
  changePassword(currentPassword: $c, newPassword: $n) { errors { code } } }"""
CREATE = """mutation($n: String!, $p: String) {
  createApiToken(name: $n, scopes: ["profile:read"], currentPassword: $p) { errors { code } } }"""
CREATE_TOKEN = (CREATE, {"n": "backup script", "p": PASSWORD})


@pytest.fixture
def settings(settings, smtp):
    # the test client is a trusted proxy, so X-Forwarded-For gives the client address
    return settings.with_(smtp_url=smtp.url, trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))


async def login(gql, agent=FIREFOX, address="198.51.100.7", username="alice"):
    headers = {"User-Agent": agent, "X-Forwarded-For": address}
    answer = (await gql.data(LOGIN, {"u": username, "p": PASSWORD}, headers=headers))["login"]
    assert answer["errors"] == []
    return answer["accessToken"]


async def settle(services, smtp, count):
    await services.mailer.drain()
    assert len(smtp.messages) == count, [m["Subject"] for m in smtp.messages]


async def test_a_new_device_or_address_is_mailed_in_the_users_language(gql, services, smtp):
    await make_user(
        services, "alice", name="Alice Liddell", profile={"preferred_language": Language.DE}
    )
    await login(gql)  # the first sign-in: nothing to compare with
    await login(gql)  # the same device and address: known
    await settle(services, smtp, 0)

    await login(gql, agent=IPHONE)  # a new device
    (mail,) = await smtp.wait_for(1)
    assert mail["To"].addresses[0].addr_spec == "alice@example.com"
    assert mail["Subject"] == "Neue Anmeldung bei Ihrem Konto auf testserver"
    text = body_text(mail)
    assert "Mobile Safari 17 on iOS 17 (iPhone)" in text and "198.51.100.7" in text
    assert f"http://testserver{SECURITY_PATH}" in links(mail)

    await login(gql, address="203.0.113.9")  # the known device from a new address
    await smtp.wait_for(2)
    assert "203.0.113.9" in body_text(smtp.messages[1])
    await login(gql, address="203.0.113.9")  # now known
    await settle(services, smtp, 2)


async def test_new_sign_in_and_token_mail_can_be_turned_off_but_password_mail_cannot(
    gql, services, smtp
):
    alice = await make_user(services, "alice")
    token = await login(gql)
    assert (await gql.data(MINE, token=token))["mySecurityNotifications"] == {
        "turnedOff": [],
        "optional": ["NEW_SIGN_IN", "API_TOKEN", "PASSKEY", "IDENTITY"],
    }
    answer = await gql.data(
        OPT_OUT, {"off": ["NEW_SIGN_IN", "API_TOKEN", "PASSWORD_CHANGED"]}, token=token
    )
    # the password mail is no choice: asking to turn it off changes nothing about it
    assert answer["updateSecurityNotifications"]["settings"]["turnedOff"] == [
        "NEW_SIGN_IN",
        "API_TOKEN",
    ]
    await login(gql, agent=IPHONE)
    assert (await gql.data(*CREATE_TOKEN, token=token))["createApiToken"]["errors"] == []
    await settle(services, smtp, 0)

    done = await gql.data(
        CHANGE_PASSWORD, {"c": PASSWORD, "n": "another good password 2B?"}, token=token
    )
    assert done["changePassword"]["errors"] == []
    (mail,) = await smtp.wait_for(1)
    assert "password" in mail["Subject"].lower()
    assert f"http://testserver{SECURITY_PATH}" in links(mail)
    assert alice.email == mail["To"].addresses[0].addr_spec


async def test_a_new_api_token_is_mailed_and_a_refused_one_is_not(gql, services, smtp):
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    refused = await gql.data(CREATE, {"n": "", "p": PASSWORD}, token=token)
    assert refused["createApiToken"]["errors"]
    await settle(services, smtp, 0)
    assert (await gql.data(*CREATE_TOKEN, token=token))["createApiToken"]["errors"] == []
    (mail,) = await smtp.wait_for(1)
    assert "API token" in mail["Subject"]
    assert "backup script" in body_text(mail)
    assert f"http://testserver{SECURITY_PATH}" in links(mail)
    assert "sgp_" not in body_text(mail)  # never the secret


async def test_a_new_passkey_is_mailed_in_the_users_language_unless_turned_off(gql, services, smtp):
    await make_user(services, "alice", profile={"preferred_language": Language.FR})
    token = await login(gql)
    authenticator = SoftAuthenticator()
    # a refused registration mails nothing
    started = (await gql.data(START_REGISTRATION, token=token))["startPasskeyRegistration"]
    bad = authenticator.create(started["options"], origin="http://evil.example")
    refused = await gql.data(FINISH_REGISTRATION, {"cred": bad, "name": "x"}, token=token)
    assert refused["finishPasskeyRegistration"]["errors"]
    await settle(services, smtp, 0)

    await register(gql, token, authenticator, name="Clé USB")
    (mail,) = await smtp.wait_for(1)
    assert mail["To"].addresses[0].addr_spec == "alice@example.com"
    assert mail["Subject"] == "Ajouté à votre compte sur testserver : une nouvelle clé d'accès"
    assert "Clé USB" in body_text(mail)
    assert f"http://testserver{SECURITY_PATH}" in links(mail)

    off = await gql.data(OPT_OUT, {"off": ["PASSKEY"]}, token=token)
    assert off["updateSecurityNotifications"]["errors"] == []
    await register(gql, token, authenticator, name="Phone")
    await settle(services, smtp, 1)
