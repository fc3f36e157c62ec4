"""Sign-up, e-mail verification and re-sent links, with mail going to a real aiosmtpd and the
links followed out of the received messages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update
from strawberry import relay

from stridegraph.db.enums import Language, TokenPurpose
from stridegraph.db.models import User
from tests.helpers import PASSWORD, login_token, make_user
from tests.mail_fixtures import (
    age_tokens,
    count_users,
    graphql_for,
    mail_settings,
    read_tokens,
    read_user,
    set_server_settings,
    token_in,
)
from tests.smtp import body_text, links

SIGN_UP = """
mutation ($input: SignUpInput!) {
  signUp(input: $input) { status errors { field code message } }
}
"""
VERIFY = "mutation ($t: String!) { verifyEmail(token: $t) { status errors { field code } } }"
RESEND = "mutation ($e: String!) { resendVerificationEmail(email: $e) { errors { field code } } }"
LOGIN = """
mutation ($u: String!, $p: String!) {
  login(username: $u, password: $p) { accessToken errors { code } }
}
"""
NEW_PASSWORD = "a long new password 9"


@pytest.fixture
def settings(settings: Any, smtp: Any) -> Any:
    return mail_settings(settings, smtp)


def form(username: str = "newbie", email: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "input": {
            "username": username,
            "email": email or f"{username}@example.com",
            "name": username.title(),
            "password": NEW_PASSWORD,
            **extra,
        }
    }


async def sign_up(gql: Any, **kw: Any) -> dict[str, Any]:
    return (await gql.data(SIGN_UP, form(**kw)))["signUp"]  # type: ignore[no-any-return]


async def verify(gql: Any, token: str) -> dict[str, Any]:
    return (await gql.data(VERIFY, {"t": token}))["verifyEmail"]  # type: ignore[no-any-return]


async def login_codes(gql: Any, username: str) -> list[str]:
    body = (await gql.data(LOGIN, {"u": username, "p": NEW_PASSWORD}))["login"]
    return [e["code"] for e in body["errors"]] or (["OK"] if body["accessToken"] else [])


async def test_sign_up_disabled_creates_nothing(gql, db, smtp, services):
    assert await sign_up(gql) == {
        "status": None,
        "errors": [
            {
                "field": None,
                "code": "SIGNUP_DISABLED",
                "message": "Sign-up is disabled on this server.",
            }
        ],
    }
    await services.mailer.drain()
    assert await count_users(db) == 0 and smtp.messages == []


async def test_sign_up_with_verification_then_follow_the_link(gql, db, smtp, services):
    await set_server_settings(db, signup_enabled=True)
    assert await sign_up(gql) == {"status": "EMAIL_VERIFICATION_REQUIRED", "errors": []}
    user = await read_user(db, "newbie")
    assert user is not None
    assert (user.active, user.email_verified, user.pending_admin_approval) == (True, False, False)
    assert await login_codes(gql, "newbie") == ["EMAIL_NOT_VERIFIED"]

    [message] = await smtp.wait_for(1)
    assert message["To"] == "newbie@example.com"
    assert message["Subject"] == "Confirm your e-mail address for testserver"
    assert links(message) == [
        f"http://testserver/verify-email?token={token_in(message, '/verify-email')}"
    ]
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "/verify-email?token=" in html.get_content()
    token = token_in(message, "/verify-email")
    [row] = await read_tokens(db, user_id=user.id)
    assert row.purpose is TokenPurpose.EMAIL_VERIFICATION and row.token_hash != token.encode()
    assert (
        dt.timedelta(hours=23, minutes=59)
        < row.expires_at - row.created_at
        <= dt.timedelta(hours=24)
    )

    assert await verify(gql, token) == {"status": "ACTIVE", "errors": []}
    user = await read_user(db, "newbie")
    assert user is not None and user.email_verified and user.active
    assert await login_codes(gql, "newbie") == ["OK"]

    # single use: the same link again changes nothing
    assert await verify(gql, token) == {
        "status": None,
        "errors": [{"field": "token", "code": "INVALID_TOKEN"}],
    }


async def test_verification_mail_in_the_chosen_language(gql, db, smtp):
    await set_server_settings(db, signup_enabled=True)
    assert (await sign_up(gql, username="ana", preferredLanguage="ES"))["errors"] == []
    [message] = await smtp.wait_for(1)
    assert message["Subject"] == "Confirma tu dirección de correo en testserver"
    assert "Hola, Ana:" in body_text(message)
    user = await read_user(db, "ana")
    assert user is not None and user.preferred_language is Language.ES


async def test_an_address_in_use_answers_as_new_and_mails_the_owner(gql, db, smtp, services):
    await set_server_settings(db, signup_enabled=True)
    owner = await make_user(services, "owner", email="Owner@Example.com")
    fresh = await sign_up(gql, username="fresh")
    taken = await sign_up(gql, username="intruder", email="owner@example.COM")
    assert taken == fresh == {"status": "EMAIL_VERIFICATION_REQUIRED", "errors": []}
    await smtp.wait_for(2)
    await services.mailer.drain()
    intruder = await read_user(db, "intruder")  # made, but without the address
    assert intruder is not None and intruder.email_key is None
    assert intruder.email == "owner@example.COM" and not intruder.email_verified
    assert await read_tokens(db, user_id=intruder.id) == []
    assert await count_users(db) == 3
    [notice] = smtp.to("Owner@Example.com")
    assert notice["Subject"] == "Sign-up attempt with your e-mail address on testserver"
    assert "owner" in body_text(notice) and "token=" not in body_text(notice)
    assert await read_tokens(db, user_id=owner.id) == []


async def test_a_taken_username_is_an_error_and_mails_nobody(gql, db, smtp, services):
    await set_server_settings(db, signup_enabled=True)
    await make_user(services, "taken")
    answer = await sign_up(gql, username="Taken", email="someone@example.com")
    assert answer["status"] is None
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [("username", "USERNAME_TAKEN")]
    await services.mailer.drain()
    assert smtp.messages == [] and await count_users(db) == 1


async def test_invalid_input_lists_every_problem_and_changes_nothing(gql, db, smtp, services):
    await set_server_settings(db, signup_enabled=True)
    body = await gql.data(
        SIGN_UP,
        {"input": {"username": "bad name", "email": "nope", "name": "", "password": "short"}},
    )
    codes = {(e["field"], e["code"]) for e in body["signUp"]["errors"]}
    assert codes == {("username", "INVALID"), ("email", "INVALID"), ("name", "REQUIRED")}
    weak = await sign_up(gql, username="weak", password="short")
    assert [(e["field"], e["code"]) for e in weak["errors"]] == [("password", "TOO_SHORT")]
    await services.mailer.drain()
    assert smtp.messages == [] and await count_users(db) == 0


async def test_verification_and_approval_mail_the_admins_after_verification(
    gql, db, smtp, services
):
    await set_server_settings(db, signup_enabled=True, signup_require_admin_approval=True)
    admin = await make_user(services, "boss", admin=True, password="admin password long 1A!")
    await make_user(
        services, "retired", admin=True, password="admin password long 1A!", active=False
    )
    assert await sign_up(gql) == {"status": "EMAIL_VERIFICATION_REQUIRED", "errors": []}
    [message] = await smtp.wait_for(1)
    await services.mailer.drain()
    assert smtp.to("boss@example.com") == []  # nothing to review before the address is proven

    assert await verify(gql, token_in(message, "/verify-email")) == {
        "status": "ADMIN_APPROVAL_REQUIRED",
        "errors": [],
    }
    await smtp.wait_for(2)
    await services.mailer.drain()
    [notice] = smtp.to("boss@example.com")
    assert notice["Subject"] == "A new account on testserver awaits approval"
    assert "newbie@example.com" in body_text(notice)
    assert smtp.to("retired@example.com") == []
    user = await read_user(db, "newbie")
    assert user is not None and user.email_verified and user.pending_admin_approval
    assert await login_codes(gql, "newbie") == ["PENDING_APPROVAL"]

    approve = "mutation ($id: ID!) { approveUser(id: $id) { errors { code } } }"
    token = await login_token(services, admin)
    gid = relay.to_base64("User", user.id)
    assert (await gql.data(approve, {"id": gid}, token=token))["approveUser"]["errors"] == []
    await smtp.wait_for(3)
    [approved] = smtp.to("newbie@example.com")[1:]
    assert approved["Subject"] == "Your account on testserver was approved"
    assert await login_codes(gql, "newbie") == ["OK"]


async def test_approval_only_mails_the_admins_at_sign_up(gql, db, smtp, services):
    await set_server_settings(
        db,
        signup_enabled=True,
        signup_require_email_verification=False,
        signup_require_admin_approval=True,
    )
    await make_user(services, "boss", admin=True, password="admin password long 1A!")
    assert await sign_up(gql) == {"status": "ADMIN_APPROVAL_REQUIRED", "errors": []}
    [notice] = await smtp.wait_for(1)
    assert notice["To"] == "boss@example.com"
    user = await read_user(db, "newbie")
    assert user is not None and user.pending_admin_approval and not user.email_verified
    assert await read_tokens(db, user_id=user.id) == []
    # the address-in-use pretence holds here too: nothing would be usable at once
    assert await sign_up(gql, username="other", email="NEWBIE@example.com") == {
        "status": "ADMIN_APPROVAL_REQUIRED",
        "errors": [],
    }
    await smtp.wait_for(2)
    assert len(smtp.to("newbie@example.com")) == 1


async def test_nothing_required_is_active_at_once_and_a_taken_address_is_an_error(
    gql, db, smtp, services
):
    await set_server_settings(db, signup_enabled=True, signup_require_email_verification=False)
    assert await sign_up(gql) == {"status": "ACTIVE", "errors": []}
    assert await login_codes(gql, "newbie") == ["OK"]
    taken = await sign_up(gql, username="second", email="newbie@example.com")
    assert [(e["field"], e["code"]) for e in taken["errors"]] == [("email", "EMAIL_TAKEN")]
    await services.mailer.drain()
    assert smtp.messages == [] and await count_users(db) == 1


@pytest.mark.parametrize("kind", ["malformed", "unknown", "expired", "other purpose", "moved"])
async def test_bad_verification_tokens_change_nothing(kind, gql, db, smtp, services):
    await set_server_settings(db, signup_enabled=True)
    await sign_up(gql)
    [message] = await smtp.wait_for(1)
    token = token_in(message, "/verify-email")
    user = await read_user(db, "newbie")
    assert user is not None
    if kind == "malformed":
        token = token[:-10] + "!!"
    elif kind == "unknown":
        token = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    elif kind == "expired":
        await age_tokens(db, user.id, dt.timedelta(hours=24, seconds=1))
    elif kind == "other purpose":
        await gql.data(
            'mutation { requestPasswordReset(email: "newbie@example.com") { errors { code } } }'
        )
        [_, reset] = await smtp.wait_for(2)
        token = token_in(reset, "/reset-password")
    elif kind == "moved":  # the address changed since the link was sent
        async with db.engine.begin() as conn:
            await conn.execute(
                update(User)
                .where(User.id == user.id)
                .values(email="elsewhere@example.com", email_key="elsewhere@example.com")
            )
    before = [(t.id, t.used_at) for t in await read_tokens(db, user_id=user.id)]
    answer = await verify(gql, token)
    assert answer == {"status": None, "errors": [{"field": "token", "code": "INVALID_TOKEN"}]}
    after = await read_user(db, "newbie")
    assert after is not None and not after.email_verified
    assert [(t.id, t.used_at) for t in await read_tokens(db, user_id=user.id)] == before


async def test_resend_answers_the_same_for_every_address(gql, db, smtp, services):
    await set_server_settings(db, signup_enabled=True)
    await make_user(services, "verified")  # email_verified=True
    await sign_up(gql)
    [first] = await smtp.wait_for(1)
    user = await read_user(db, "newbie")
    assert user is not None
    await age_tokens(db, user.id, dt.timedelta(minutes=2))  # past the resend cool-down

    answers = [
        await gql.data(RESEND, {"e": address})
        for address in ("nobody@example.com", "verified@example.com", "NEWBIE@example.com")
    ]
    assert answers == [{"resendVerificationEmail": {"errors": []}}] * 3
    await smtp.wait_for(2)
    await services.mailer.drain()
    assert len(smtp.messages) == 2
    [_, second] = smtp.to("newbie@example.com")
    # the newer link works, the older one no longer does
    assert (await verify(gql, token_in(first, "/verify-email")))["errors"][0][
        "code"
    ] == "INVALID_TOKEN"
    assert (await verify(gql, token_in(second, "/verify-email")))["status"] == "ACTIVE"


async def test_resend_is_rate_limited_per_account_without_saying_so(gql, db, smtp, services):
    await set_server_settings(db, signup_enabled=True)
    await sign_up(gql)
    await smtp.wait_for(1)
    assert await gql.data(RESEND, {"e": "newbie@example.com"}) == {
        "resendVerificationEmail": {"errors": []}
    }
    await services.mailer.drain()
    assert len(smtp.messages) == 1
    user = await read_user(db, "newbie")
    assert user is not None and len(await read_tokens(db, user_id=user.id)) == 1


async def test_resend_refuses_a_malformed_address(gql, db, smtp, services):
    body = await gql.data(RESEND, {"e": "not an address"})
    assert body["resendVerificationEmail"]["errors"] == [{"field": "email", "code": "INVALID"}]


async def test_existing_user_password_is_untouched_by_a_pretend_sign_up(gql, db, smtp, services):
    await set_server_settings(db, signup_enabled=True)
    owner = await make_user(services, "owner")
    await sign_up(gql, username="intruder", email="owner@example.com")
    after = await read_user(db, "owner")
    assert after is not None and after.password_hash == owner.password_hash
    assert await services.passwords.verify(after.password_hash, PASSWORD)


async def test_links_are_built_from_public_url(settings, db, smtp):
    await set_server_settings(db, signup_enabled=True)
    behind_a_prefix = settings.with_(public_url="https://fit.example.org/app")
    async with graphql_for(behind_a_prefix, db) as (client, _):
        assert (await client.data(SIGN_UP, form()))["signUp"]["errors"] == []
        [message] = await smtp.wait_for(1)
    [link] = links(message)
    assert link.startswith("https://fit.example.org/app/verify-email?token=sgo_")
    assert message["Subject"] == "Confirm your e-mail address for fit.example.org"
    html = message.get_body(preferencelist=("html",))
    assert html is not None and f'href="{link}"' in html.get_content()


PROFILE = {
    "city": "  Évora ",
    "birthdate": "1990-04-02",
    "gender": "FEMALE",
    "units": "IMPERIAL",
    "height": 170,
    "maxHeartRate": 190,
    "firstDayOfWeek": "SUNDAY",
    "currency": "POUND",
    "preferredLanguage": "PT",
}


async def test_sign_up_takes_every_profile_field(gql, db, smtp):
    """The seed's sign-up takes every UsersBase field, stored as updateMe would store it."""
    await set_server_settings(db, signup_enabled=True)
    assert await sign_up(gql, username="full", **PROFILE) == {
        "status": "EMAIL_VERIFICATION_REQUIRED",
        "errors": [],
    }
    user = await read_user(db, "full")
    assert user is not None
    assert user.city == "Évora" and user.birthdate == dt.date(1990, 4, 2)
    assert (user.gender.name, user.units.name, user.first_day_of_week.name) == (
        "FEMALE",
        "IMPERIAL",
        "SUNDAY",
    )
    assert (user.height, user.max_heart_rate, user.currency.name) == (170, 190, "POUND")
    assert user.preferred_language is Language.PT


@pytest.mark.parametrize(
    ("extra", "field", "code"),
    [
        ({"height": 0}, "height", "OUT_OF_RANGE"),
        ({"height": 301}, "height", "OUT_OF_RANGE"),
        ({"maxHeartRate": 29}, "maxHeartRate", "OUT_OF_RANGE"),
        ({"city": "c" * 251}, "city", "TOO_LONG"),
        ({"city": "a\u202eb"}, "city", "INVALID"),
        ({"birthdate": "2999-01-01"}, "birthdate", "OUT_OF_RANGE"),
        ({"gender": None}, "gender", "REQUIRED"),
        ({"currency": None}, "currency", "REQUIRED"),
    ],
)
async def test_sign_up_profile_fields_follow_update_me_rules(gql, db, smtp, extra, field, code):
    await set_server_settings(db, signup_enabled=True)
    before = await count_users(db)
    answer = await sign_up(gql, username="bad", **extra)
    assert answer["status"] is None
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(field, code)]
    assert await count_users(db) == before
    assert await read_user(db, "bad") is None
