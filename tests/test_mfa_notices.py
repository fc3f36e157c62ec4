"""The user is mailed when MFA is enabled, disabled or reset by an administrator, and is not
mailed when a request is refused (issue 6, point 4)."""

from __future__ import annotations

import pytest
from strawberry import relay

from tests.helpers import login_token, make_user
from tests.mfa_support import DISABLE, ENABLE, RESET, code_at, codes_of, enrol, install_clock
from tests.smtp import body_text


@pytest.fixture
def settings(settings, smtp):
    return settings.with_(smtp_url=smtp.url)


@pytest.fixture
def clock(services):
    return install_clock(services)


async def test_enable_and_disable_are_mailed_to_the_user(gql, services, smtp, clock):
    user = await make_user(services, "alice", name="Alice Liddell")
    token = await login_token(services, user)
    secret, _ = await enrol(gql, token, clock)
    enabled = (await smtp.wait_for(1))[0]
    assert enabled["To"].addresses[0].addr_spec == "alice@example.com"
    assert "turned on" in enabled["Subject"]
    assert "alice" in body_text(enabled) and secret not in body_text(enabled)

    refused = (await gql.data(DISABLE, {"code": "abc"}, token=token))["disableMfa"]
    assert codes_of(refused) == ["INVALID_CODE"]
    await services.mailer.drain()
    assert len(smtp.messages) == 1  # nothing for the refused attempt
    clock.advance(30)
    answer = (await gql.data(DISABLE, {"code": code_at(secret, clock.now)}, token=token))[
        "disableMfa"
    ]
    assert answer["errors"] == []
    messages = await smtp.wait_for(2)
    assert "turned off" in messages[1]["Subject"]


async def test_an_admin_reset_is_mailed_to_the_user(gql, services, smtp, clock):
    user = await make_user(services, "alice")
    await enrol(gql, await login_token(services, user), clock)
    await smtp.wait_for(1)
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    answer = await gql.data(
        RESET, {"id": relay.to_base64("User", user.id)}, token=await login_token(services, admin)
    )
    assert answer["resetUserMfa"]["errors"] == []
    messages = await smtp.wait_for(2)
    reset = messages[1]
    assert reset["To"].addresses[0].addr_spec == "alice@example.com"
    assert "administrator" in reset["Subject"].lower()


async def test_a_refused_enable_mails_nothing(gql, services, smtp, clock):
    user = await make_user(services, "alice")
    token = await login_token(services, user)
    secret, _ = await enrol(gql, token, clock)
    await smtp.wait_for(1)
    clock.advance(30)
    again = (await gql.data(ENABLE, {"code": code_at(secret, clock.now)}, token=token))["enableMfa"]
    assert codes_of(again) == ["MFA_ALREADY_ENABLED"]
    await services.mailer.drain()
    assert len(smtp.messages) == 1
