"""Changing one's e-mail address: the current password at request, a link to the new
address, EMAIL_TAKEN at request and at confirmation, and a notice to the old address."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from stridegraph.db.enums import TokenPurpose
from tests.helpers import PASSWORD, login_token, make_user
from tests.mail_fixtures import age_tokens, mail_settings, read_tokens, read_user, token_in
from tests.smtp import body_text

REQUEST = """
mutation ($e: String!, $p: String!) {
  requestEmailChange(newEmail: $e, currentPassword: $p) { errors { field code } }
}
"""
CONFIRM = """
mutation ($t: String!) {
  confirmEmailChange(token: $t) { user { email emailVerified } errors { field code } }
}
"""


@pytest.fixture
def settings(settings: Any, smtp: Any) -> Any:
    return mail_settings(settings, smtp)


async def ask(gql: Any, token: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    data = await gql.data(REQUEST, {"e": email, "p": password}, token=token)
    return data["requestEmailChange"]  # type: ignore[no-any-return]


async def confirm(gql: Any, token: str, link_token: str) -> dict[str, Any]:
    return (await gql.data(CONFIRM, {"t": link_token}, token=token))["confirmEmailChange"]  # type: ignore[no-any-return]


async def signed_in(services: Any, username: str = "ann", **kw: Any) -> tuple[Any, str]:
    user = await make_user(services, username, **kw)
    return user, await login_token(services, user)


async def test_change_by_link_to_the_new_address_and_tell_the_old(gql, db, smtp, services):
    user, access = await signed_in(services, "ann", email="ann@old.example")
    assert await ask(gql, access, "Ann@New.example") == {"errors": []}
    [message] = await smtp.wait_for(1)
    assert message["To"] == "Ann@New.example"
    assert message["Subject"] == "Confirm your new e-mail address on testserver"
    [row] = await read_tokens(db, user_id=user.id)
    assert row.purpose is TokenPurpose.EMAIL_CHANGE and row.new_email == "Ann@New.example"
    unchanged = await read_user(db, "ann")
    assert unchanged is not None and unchanged.email == "ann@old.example"  # not before confirming

    link_token = token_in(message, "/confirm-email")
    assert await confirm(gql, access, link_token) == {
        "user": {"email": "Ann@New.example", "emailVerified": True},
        "errors": [],
    }
    after = await read_user(db, "ann")
    assert after is not None and after.email == "Ann@New.example" and after.email_verified
    [_, notice] = await smtp.wait_for(2)
    assert notice["To"] == "ann@old.example"
    assert notice["Subject"] == "Your e-mail address on testserver was changed"
    assert "ann@old.example" in body_text(notice) and "Ann@New.example" in body_text(notice)
    assert "token=" not in body_text(notice)

    # single use
    assert await confirm(gql, access, link_token) == {
        "user": None,
        "errors": [{"field": "token", "code": "INVALID_TOKEN"}],
    }


async def test_wrong_password_same_address_and_bad_input_change_nothing(gql, db, smtp, services):
    _, access = await signed_in(services)
    cases = [
        ("new@example.com", "wrong password", [("currentPassword", "INVALID_CREDENTIALS")]),
        ("ANN@example.com", PASSWORD, [("newEmail", "INVALID")]),
        ("not an address", PASSWORD, [("newEmail", "INVALID")]),
        ("", PASSWORD, [("newEmail", "REQUIRED")]),
    ]
    for email, password, expected in cases:
        answer = await ask(gql, access, email, password)
        assert [(e["field"], e["code"]) for e in answer["errors"]] == expected, email
    await services.mailer.drain()
    assert smtp.messages == [] and await read_tokens(db) == []


async def test_email_taken_at_request(gql, db, smtp, services):
    await make_user(services, "bob", email="bob@example.com")
    _, access = await signed_in(services)
    assert await ask(gql, access, "BOB@example.com") == {
        "errors": [{"field": "newEmail", "code": "EMAIL_TAKEN"}]
    }
    await services.mailer.drain()
    assert smtp.messages == [] and await read_tokens(db) == []


async def test_email_taken_again_at_confirmation(gql, db, smtp, services):
    user, access = await signed_in(services)
    await ask(gql, access, "wanted@example.com")
    link_token = token_in((await smtp.wait_for(1))[0], "/confirm-email")
    await make_user(services, "quick", email="Wanted@example.com")  # takes it meanwhile
    assert await confirm(gql, access, link_token) == {
        "user": None,
        "errors": [{"field": None, "code": "EMAIL_TAKEN"}],
    }
    after = await read_user(db, "ann")
    assert after is not None and after.email == "ann@example.com"
    [row] = await read_tokens(db, user_id=user.id)
    assert row.used_at is None
    await services.mailer.drain()
    assert len(smtp.messages) == 1  # no notice to the old address


@pytest.mark.parametrize("kind", ["foreign", "malformed", "expired", "reset token", "superseded"])
async def test_bad_tokens_change_nothing(kind, gql, db, smtp, services):
    user, access = await signed_in(services)
    _, other_access = await signed_in(services, "eve")
    await ask(gql, access, "new@example.com")
    link_token = token_in((await smtp.wait_for(1))[0], "/confirm-email")
    caller = access
    if kind == "foreign":  # another signed-in user presents ann's link
        caller = other_access
    elif kind == "malformed":
        link_token = link_token[:20]
    elif kind == "expired":
        await age_tokens(db, user.id, dt.timedelta(hours=24, seconds=1))
    elif kind == "reset token":
        await gql.data(
            'mutation { requestPasswordReset(email: "ann@example.com") { errors { code } } }'
        )
        link_token = token_in((await smtp.wait_for(2))[1], "/reset-password")
    elif kind == "superseded":  # a newer request retires the older link
        await ask(gql, access, "newer@example.com")
        await smtp.wait_for(2)
    before = [(t.id, t.used_at) for t in await read_tokens(db)]
    assert await confirm(gql, caller, link_token) == {
        "user": None,
        "errors": [{"field": "token", "code": "INVALID_TOKEN"}],
    }
    for username, email in (("ann", "ann@example.com"), ("eve", "eve@example.com")):
        row = await read_user(db, username)
        assert row is not None and row.email == email
    assert [(t.id, t.used_at) for t in await read_tokens(db)] == before


async def test_links_mailed_to_the_old_address_die_with_the_change(gql, db, smtp, services):
    _, access = await signed_in(services)
    await gql.data(
        'mutation { requestPasswordReset(email: "ann@example.com") { errors { code } } }'
    )
    reset_token = token_in((await smtp.wait_for(1))[0], "/reset-password")
    await ask(gql, access, "new@example.com")
    await confirm(gql, access, token_in((await smtp.wait_for(2))[1], "/confirm-email"))
    answer = await gql.data(
        'mutation ($t: String!) { resetPassword(token: $t, newPassword: "long new password 1") { errors { code } } }',
        {"t": reset_token},
    )
    assert answer["resetPassword"]["errors"] == [{"code": "INVALID_TOKEN"}]


async def test_anonymous_cannot_confirm(gql, db, smtp, services):
    body = await gql.execute(CONFIRM, {"t": "sgo_" + "x" * 43})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["data"] is None or body["data"].get("confirmEmailChange") is None


async def test_wrong_passwords_count_toward_the_login_rate_limit(gql, db, smtp, services):
    _, access = await signed_in(services)
    limit = services.settings.login_max_failures_account
    for _ in range(limit):
        answer = await ask(gql, access, "new@example.com", "wrong password")
        assert answer["errors"] == [{"field": "currentPassword", "code": "INVALID_CREDENTIALS"}]
    refused = await ask(gql, access, "new@example.com")  # even the right password, for now
    assert [e["code"] for e in refused["errors"]] == ["TOO_MANY_ATTEMPTS"]
    await services.mailer.drain()
    assert smtp.messages == [] and await read_tokens(db) == []
