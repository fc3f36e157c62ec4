"""Inputs, the sign-up status and the payloads of the account-lifecycle mutations."""

from __future__ import annotations

import strawberry

from stridegraph.domain.signup import SignUpStatus as DomainSignUpStatus
from stridegraph.graph.enums import Language
from stridegraph.graph.errors import Payload
from stridegraph.graph.users.inputs import ProfileDetailsInput
from stridegraph.graph.users.types import UserMe

SignUpStatus = strawberry.enum(
    DomainSignUpStatus,
    name="SignUpStatus",
    description="What a new account needs before it can sign in.",
)


@strawberry.input(description="A new account, created by its owner.")
class SignUpInput(ProfileDetailsInput):
    username: str
    email: str
    name: str
    password: str
    preferred_language: Language | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Also the language of the mail we send."
    )


@strawberry.type
class SignUpPayload(Payload):
    status: SignUpStatus | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description=(
            "Null on error. For an address already in use the answer is the one a new "
            "address would get (the owner is mailed instead)."
        ),
    )


@strawberry.type
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


@strawberry.type
class ResetPasswordPayload(Payload):
    pass


@strawberry.type
class SendPasswordResetEmailPayload(Payload):
    pass


@strawberry.type
class RequestEmailChangePayload(Payload):
    pass


@strawberry.type
class ConfirmEmailChangePayload(Payload):
    user: UserMe | None = strawberry.field(
        default=None, description="The viewer, with the new address."
    )
