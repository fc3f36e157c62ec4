"""With no SMTP_URL: sign-up needs no verification (and the settings say so), and every
feature that needs mail answers MAIL_DISABLED, the same for every address, changing
nothing."""

from __future__ import annotations

from typing import Any

from strawberry import relay

from tests.helpers import PASSWORD, login_token, make_user
from tests.mail_fixtures import count_users, read_tokens, read_user, set_server_settings

SIGN_UP = """
mutation ($email: String!, $username: String!) {
  signUp(input: {username: $username, email: $email, name: "N", password: "long enough pw"}) {
    status errors { field code }
  }
}
"""


async def sign_up(gql: Any, username: str, email: str) -> dict[str, Any]:
    return (await gql.data(SIGN_UP, {"username": username, "email": email}))["signUp"]  # type: ignore[no-any-return]


async def test_sign_up_needs_no_verification_and_the_settings_say_so(gql, db):
    await set_server_settings(db, signup_enabled=True, signup_require_email_verification=True)
    settings = (
        await gql.data("{ serverSettings { mailEnabled signupRequireEmailVerification } }")
    )["serverSettings"]
    assert settings == {"mailEnabled": False, "signupRequireEmailVerification": False}
    assert await sign_up(gql, "solo", "solo@example.com") == {"status": "ACTIVE", "errors": []}
    login = await gql.data(
        'mutation { login(username: "solo", password: "long enough pw") { accessToken errors { code } } }'
    )
    assert login["login"]["errors"] == [] and login["login"]["accessToken"]
    # Active at once, so pretending would not survive the first login: an honest EMAIL_TAKEN.
    taken = await sign_up(gql, "again", "SOLO@example.com")
    assert taken == {"status": None, "errors": [{"field": "email", "code": "EMAIL_TAKEN"}]}
    assert await count_users(db) == 1


async def test_approval_without_mail_still_hides_which_addresses_exist(gql, db, services):
    await set_server_settings(db, signup_enabled=True, signup_require_admin_approval=True)
    await make_user(services, "boss", admin=True, password="admin password long 1A!")
    fresh = await sign_up(gql, "fresh", "fresh@example.com")
    taken = await sign_up(gql, "other", "boss@example.com")
    assert fresh == taken == {"status": "ADMIN_APPROVAL_REQUIRED", "errors": []}
    other = await read_user(db, "other")  # made, but without the address
    assert other is not None and other.email_key is None and other.pending_admin_approval
    user = await read_user(db, "fresh")
    assert user is not None and user.pending_admin_approval


async def test_features_that_need_mail_say_so(gql, db, services):
    user = await make_user(services, "ann")
    admin = await make_user(services, "boss", admin=True, password="admin password long 1A!")
    user_token = await login_token(services, user)
    admin_token = await login_token(services, admin)
    operations = [
        (
            'mutation { resendVerificationEmail(email: "ann@example.com") { errors { code } } }',
            None,
        ),
        ('mutation { resendVerificationEmail(email: "x@example.com") { errors { code } } }', None),
        ('mutation { requestPasswordReset(email: "ann@example.com") { errors { code } } }', None),
        ('mutation { requestPasswordReset(email: "x@example.com") { errors { code } } }', None),
        (
            f'mutation {{ sendPasswordResetEmail(id: "{relay.to_base64("User", user.id)}") '
            "{ errors { code } } }",
            admin_token,
        ),
        (
            f'mutation {{ requestEmailChange(newEmail: "new@example.com", currentPassword: "{PASSWORD}") '
            "{ errors { code } } }",
            user_token,
        ),
    ]
    for document, token in operations:
        data = await gql.data(document, token=token)
        [payload] = data.values()
        assert payload == {"errors": [{"code": "MAIL_DISABLED"}]}, document
    assert await read_tokens(db) == []
    after = await read_user(db, "ann")
    assert after is not None and after.email == "ann@example.com"
