"""Account-lifecycle mutations: thin wrappers over ``domain.signup``,
``domain.password_reset`` and ``domain.email_change``."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from stridegraph.domain import email_change, password_reset, signup
from stridegraph.domain.scopes import PROFILE_WRITE, USERS_WRITE
from stridegraph.graph.account.types import (
    ConfirmEmailChangePayload,
    RequestEmailChangePayload,
    RequestPasswordResetPayload,
    ResendVerificationEmailPayload,
    ResetPasswordPayload,
    SendPasswordResetEmailPayload,
    SignUpInput,
    SignUpPayload,
    VerifyEmailPayload,
)
from stridegraph.graph.arguments import (
    NEW,
    CurrentPassword,
    Email,
    MailedToken,
    NewPassword,
    OptionalCode,
    UserId,
    proof,
)
from stridegraph.graph.errors import run_mutation
from stridegraph.graph.permissions import requires
from stridegraph.graph.user_admin import on_user
from stridegraph.graph.users.inputs import PROFILE_EXTRAS, given
from stridegraph.graph.users.types import UserMe


@strawberry.type
class AccountMutations:
    @strawberry.mutation(
        description="Create an account, as the server settings allow (SIGNUP_DISABLED when "
        "off). An address already in use gets the answer a new one would, and its owner is "
        "mailed a notice instead, unless the account would be ACTIVE at once (EMAIL_TAKEN)."
    )
    async def sign_up(self, info: Info, input: Annotated[SignUpInput, NEW]) -> SignUpPayload:
        return await run_mutation(
            info,
            signup.sign_up,
            lambda status: SignUpPayload(status=status),
            SignUpPayload,
            username=input.username,
            email=input.email,
            name=input.name,
            password=input.password,
            preferred_language=input.preferred_language,
            profile=given(input, PROFILE_EXTRAS),
            client_address=info.context.client_address,
        )

    @strawberry.mutation(
        description="Confirm an address with the token from the sign-up mail (single use, "
        "24 hours). INVALID_TOKEN otherwise."
    )
    async def verify_email(self, info: Info, token: MailedToken) -> VerifyEmailPayload:
        return await run_mutation(
            info,
            signup.verify_email,
            lambda status: VerifyEmailPayload(status=status),
            VerifyEmailPayload,
            token=token,
        )

    @strawberry.mutation(
        description="Mail a new verification link if this address has an unverified "
        "account. The same answer for every address; MAIL_DISABLED without mail."
    )
    async def resend_verification_email(
        self, info: Info, email: Email
    ) -> ResendVerificationEmailPayload:
        return await run_mutation(
            info,
            signup.resend_verification_email,
            lambda _: ResendVerificationEmailPayload(),
            ResendVerificationEmailPayload,
            email=email,
        )

    @strawberry.mutation(
        description="Mail a password-reset link if this address has an active account. The "
        "same answer, in comparable time, for every address; MAIL_DISABLED without mail."
    )
    async def request_password_reset(self, info: Info, email: Email) -> RequestPasswordResetPayload:
        return await run_mutation(
            info,
            password_reset.request_password_reset,
            lambda _: RequestPasswordResetPayload(),
            RequestPasswordResetPayload,
            email=email,
            client_address=info.context.client_address,
        )

    @strawberry.mutation(
        description="Set a new password with the token from a reset or set-password mail "
        "(single use; 1 hour, 72 for a set-password link). Ends every session of the user."
    )
    async def reset_password(
        self, info: Info, token: MailedToken, new_password: NewPassword
    ) -> ResetPasswordPayload:
        return await run_mutation(
            info,
            password_reset.reset_password,
            lambda _: ResetPasswordPayload(),
            ResetPasswordPayload,
            token=token,
            new_password=new_password,
        )

    @strawberry.mutation(
        description="Mail a user a password-reset link (administrators).",
        extensions=[requires(scope=USERS_WRITE, admin=True)],
    )
    async def send_password_reset_email(
        self, info: Info, id: UserId
    ) -> SendPasswordResetEmailPayload:
        return await on_user(
            info,
            id,
            password_reset.send_password_reset_email,
            lambda _: SendPasswordResetEmailPayload(),
            SendPasswordResetEmailPayload,
        )

    @strawberry.mutation(
        description="Ask to change your e-mail address: a confirmation link goes to the new "
        "address. Needs the current password (and a code, when given, must be right too); "
        "EMAIL_TAKEN when the address is in use.",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def request_email_change(
        self,
        info: Info,
        new_email: Email,
        current_password: CurrentPassword,
        code: OptionalCode = None,
    ) -> RequestEmailChangePayload:
        return await run_mutation(
            info,
            email_change.request_email_change,
            lambda _: RequestEmailChangePayload(),
            RequestEmailChangePayload,
            new_email=new_email,
            proof=proof(info, current_password, code),
        )

    @strawberry.mutation(
        description="Switch to the new address with the token from the confirmation mail "
        "(signed in as the same user). EMAIL_TAKEN if someone took it meanwhile; the old "
        "address is told of the change.",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def confirm_email_change(
        self, info: Info, token: MailedToken
    ) -> ConfirmEmailChangePayload:
        return await run_mutation(
            info,
            email_change.confirm_email_change,
            lambda user: ConfirmEmailChangePayload(user=UserMe.of(user, info.context)),
            ConfirmEmailChangePayload,
            token=token,
        )
