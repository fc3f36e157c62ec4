"""Inputs, the sign-up status and the payloads of the account-lifecycle mutations."""

from __future__ import annotations

import strawberry

from stridegraph.domain.signup import SignUpStatus as DomainSignUpStatus
from stridegraph.graph.enums import Language, described_enum
from stridegraph.graph.errors import Payload
from stridegraph.graph.users.inputs import ProfileDetailsInput, required
from stridegraph.graph.users.types import UserMe

SignUpStatus = described_enum(
    DomainSignUpStatus,
    name="SignUpStatus",
    description="What a new account needs before it can sign in.",
    values={
        "ACTIVE": "Nothing: the account can sign in now.",
        "EMAIL_VERIFICATION_REQUIRED": "Its owner must follow the link in the mail we sent.",
        "ADMIN_APPROVAL_REQUIRED": "An administrator must approve it.",
    },
)


@strawberry.input(description="A new account, created by its owner.")
class SignUpInput(ProfileDetailsInput):
    username: str = required("username")
    email: str = required("email")
    name: str = required("name")
    password: str | None = strawberry.field(
        default=None,
        description="At least the server's minimum length (serverSettings), and not the "
        "username or e-mail. Required unless the server allows passwordless sign-up: then, "
        "without one, a link is mailed to register a passkey (or set a password) with.",
    )
    preferred_language: Language | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Also the language of the mail we send."
    )


@strawberry.type(description="What the new account needs before it can sign in, or the errors.")
class SignUpPayload(Payload):
    status: SignUpStatus | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description=(
            "Null on error. For an address already in use the answer is the one a new "
            "address would get (the owner is mailed instead)."
        ),
    )


@strawberry.type(description="The account's state once the address is proven, or the errors.")
class VerifyEmailPayload(Payload):
    status: SignUpStatus | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description="ACTIVE, or ADMIN_APPROVAL_REQUIRED while an administrator must approve.",
    )


@strawberry.type(description="The same for every address.")
class ResendVerificationEmailPayload(Payload):
    pass


@strawberry.type(description="The same for every address.")
class RequestPasswordResetPayload(Payload):
    pass


@strawberry.type(description="The password is changed and every session ended (or the errors).")
class ResetPasswordPayload(Payload):
    pass


@strawberry.type(description="The reset link is on its way (or the errors).")
class SendPasswordResetEmailPayload(Payload):
    pass


@strawberry.type(description="A confirmation link went to the new address (or the errors).")
class RequestEmailChangePayload(Payload):
    pass


@strawberry.type(description="You, with the new address, or the errors.")
class ConfirmEmailChangePayload(Payload):
    user: UserMe | None = strawberry.field(
        default=None, description="The viewer, with the new address."
    )
