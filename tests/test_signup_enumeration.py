"""No enumeration through sign-up (issue 11, point 3): a sign-up with a taken address and
one with a fresh address answer alike through every later operation a stranger can make,
login included; the owner is mailed a notice and the account made without the address gets
no link."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import PASSWORD, make_user
from tests.mail_fixtures import mail_settings, read_tokens, read_user, set_server_settings

SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) {
  status errors { field code message } } }"""
LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken mfaRequired user { username } errors { field code message retryAfterSeconds } } }"""
RESEND = """mutation($e: String!) { resendVerificationEmail(email: $e) {
  errors { field code message } } }"""
RESET = """mutation($e: String!) { requestPasswordReset(email: $e) {
  errors { field code message } } }"""
VERIFY = """mutation($t: String!) { verifyEmail(token: $t) {
  status errors { field code message } } }"""
PROFILE = "query($u: String!) { userByUsername(username: $u) { username name city } }"
PROBE_PASSWORD = "the prober's own password 7"
TAKEN = "Owner@Example.org"

MODES = [
    pytest.param({"signup_require_email_verification": True}, id="verification"),
    pytest.param(
        {"signup_require_email_verification": True, "signup_require_admin_approval": True},
        id="verification+approval",
    ),
    pytest.param(
        {"signup_require_email_verification": False, "signup_require_admin_approval": True},
        id="approval",
    ),
]


@pytest.fixture
def settings(settings: Any, smtp: Any) -> Any:
    return mail_settings(settings, smtp)


def sign_up_form(username: str, email: str) -> dict[str, Any]:
    return {
        "input": {"username": username, "email": email, "name": "Probe", "password": PROBE_PASSWORD}
    }


async def observe(gql: Any, username: str, email: str) -> list[Any]:
    """Everything a stranger can see after signing up ``username`` with ``email``."""
    steps: list[tuple[str, dict[str, Any]]] = [
        (SIGN_UP, sign_up_form(username, email)),
        (LOGIN, {"u": username, "p": PROBE_PASSWORD}),
        (LOGIN, {"u": email, "p": PROBE_PASSWORD}),
        (LOGIN, {"u": email.upper(), "p": PROBE_PASSWORD}),
        (LOGIN, {"u": username, "p": "a wrong password"}),
        (LOGIN, {"u": email, "p": "a wrong password"}),
        (SIGN_UP, sign_up_form(username + "2", email)),
        (LOGIN, {"u": username + "2", "p": PROBE_PASSWORD}),
        (RESEND, {"e": email}),
        (RESET, {"e": email}),
        (VERIFY, {"t": "sgo_" + "A" * 43}),
        (PROFILE, {"u": username}),
        (PROFILE, {"u": username + "2"}),
    ]
    answers = [await gql.execute(query, variables) for query, variables in steps]
    # the only difference allowed: the username and address the prober chose
    text = json.dumps(answers).replace(username, "U").replace(email.upper(), "E")
    return json.loads(text.replace(email, "E"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", MODES)
async def test_a_taken_address_answers_as_a_fresh_one_throughout(gql, db, smtp, services, mode):
    await set_server_settings(db, signup_enabled=True, public_profiles=True, **mode)
    owner = await make_user(services, "owner", email=TAKEN)
    fresh = await observe(gql, "probe.fresh", "nobody.yet@example.org")
    taken = await observe(gql, "probe.taken", TAKEN.lower())
    assert taken == fresh
    # the answers are the ones a pending sign-up gets, not an error about the address
    assert fresh[0]["data"]["signUp"]["errors"] == []
    assert fresh[2]["data"]["login"]["errors"][0]["code"] == "INVALID_CREDENTIALS"

    await services.mailer.drain()
    to_owner = smtp.to(TAKEN)
    kinds = [m["Subject"] for m in to_owner]
    assert any(s.startswith("Sign-up attempt with your e-mail address") for s in kinds)
    assert not any("/verify-email" in m.get_body(("plain",)).get_content() for m in to_owner)
    for name in ("probe.taken", "probe.taken2"):
        decoy = await read_user(db, name)
        assert decoy is not None and decoy.email_key is None and not decoy.email_verified
        assert await read_tokens(db, user_id=decoy.id) == []
    after = await read_user(db, "owner")
    assert after is not None and after.password_hash == owner.password_hash


async def test_the_owner_still_signs_in_by_address(gql, db, smtp, services):
    await set_server_settings(db, signup_enabled=True)
    await make_user(services, "owner", email=TAKEN)
    await gql.data(SIGN_UP, sign_up_form("intruder", TAKEN))
    body = (await gql.data(LOGIN, {"u": TAKEN.upper(), "p": PASSWORD}))["login"]
    assert body["errors"] == [] and body["user"] == {"username": "owner"}


async def test_login_by_an_unverified_address_takes_the_unknown_user_path(gql, db, smtp):
    await set_server_settings(db, signup_enabled=True)
    await gql.data(SIGN_UP, sign_up_form("fresh", "fresh@example.org"))
    by_address = await gql.data(LOGIN, {"u": "fresh@example.org", "p": PROBE_PASSWORD})
    by_name = await gql.data(LOGIN, {"u": "fresh", "p": PROBE_PASSWORD})
    assert [e["code"] for e in by_address["login"]["errors"]] == ["INVALID_CREDENTIALS"]
    assert [e["code"] for e in by_name["login"]["errors"]] == ["EMAIL_NOT_VERIFIED"]
