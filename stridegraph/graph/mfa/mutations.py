"""MFA mutations: thin wrappers over ``stridegraph.domain.mfa``."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from stridegraph.domain import mfa
from stridegraph.domain.scopes import PROFILE_WRITE, USERS_WRITE
from stridegraph.graph.arguments import Code, OptionalCode, OptionalCurrentPassword, UserId, proof
from stridegraph.graph.auth.sign_in import sign_in
from stridegraph.graph.auth.types import LoginPayload
from stridegraph.graph.errors import run_mutation
from stridegraph.graph.mfa.types import (
    DisableMfaPayload,
    EnableMfaPayload,
    RegenerateBackupCodesPayload,
    ResetUserMfaPayload,
    SetupMfaPayload,
)
from stridegraph.graph.permissions import requires
from stridegraph.graph.user_admin import on_user
from stridegraph.graph.users.types import User, UserMe


@strawberry.type
class MfaMutations:
    @strawberry.mutation(
        description="Second step of a login with MFA on: the mfaToken from login plus a TOTP "
        "code or an unused backup code. Answers like login."
    )
    async def complete_mfa_login(
        self,
        info: Info,
        mfa_token: Annotated[str, strawberry.argument(description="The mfaToken login answered.")],
        code: Code,
    ) -> LoginPayload:
        # the refresh token in the session cookie when the server says so (graph/cookies.py)
        return await sign_in(info, mfa.complete_login, mfa_token=mfa_token, code=code)

    @strawberry.mutation(
        description="Start MFA enrolment: a new secret to scan; nothing is enabled until "
        "enableMfa confirms a code. Needs currentPassword, or a sign-in within the last few "
        "minutes (else REAUTHENTICATION_REQUIRED).",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def setup_mfa(
        self,
        info: Info,
        current_password: OptionalCurrentPassword = None,
        code: OptionalCode = None,
    ) -> SetupMfaPayload:
        return await run_mutation(
            info,
            mfa.setup_mfa,
            lambda r: SetupMfaPayload(
                secret=r.secret, otpauth_uri=r.otpauth_uri, qr_code_svg=r.qr_code_svg
            ),
            SetupMfaPayload,
            proof=proof(info, current_password, code),
        )

    @strawberry.mutation(
        description="Turn MFA on with a code from the authenticator; returns ten backup codes, "
        "once. Needs currentPassword, or a sign-in within the last few minutes (else "
        "REAUTHENTICATION_REQUIRED).",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def enable_mfa(
        self,
        info: Info,
        code: Annotated[
            str, strawberry.argument(description="The code the new authenticator shows now.")
        ],
        current_password: OptionalCurrentPassword = None,
    ) -> EnableMfaPayload:
        return await run_mutation(
            info,
            mfa.enable_mfa,
            lambda r: EnableMfaPayload(
                backup_codes=r.backup_codes, user=UserMe.of(r.user, info.context)
            ),
            EnableMfaPayload,
            code=code,
            current_password=current_password,
            client_address=info.context.client_address,
        )

    @strawberry.mutation(
        description="Turn MFA off, given a current code or an unused backup code.",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def disable_mfa(self, info: Info, code: Code) -> DisableMfaPayload:
        return await run_mutation(
            info,
            mfa.disable_mfa,
            lambda user: DisableMfaPayload(user=UserMe.of(user, info.context)),
            DisableMfaPayload,
            code=code,
            client_address=info.context.client_address,
        )

    @strawberry.mutation(
        description="Replace all backup codes with ten new ones, given a current code or an "
        "unused backup code.",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def regenerate_backup_codes(self, info: Info, code: Code) -> RegenerateBackupCodesPayload:
        return await run_mutation(
            info,
            mfa.regenerate_backup_codes,
            lambda codes: RegenerateBackupCodesPayload(backup_codes=codes),
            RegenerateBackupCodesPayload,
            code=code,
            client_address=info.context.client_address,
        )

    @strawberry.mutation(
        description="Admin: turn MFA off for a user locked out of it (recorded in the log).",
        extensions=[requires(scope=USERS_WRITE, admin=True)],
    )
    async def reset_user_mfa(self, info: Info, id: UserId) -> ResetUserMfaPayload:
        return await on_user(
            info,
            id,
            mfa.reset_user_mfa,
            lambda user: ResetUserMfaPayload(user=User.of(user, info.context)),
            ResetUserMfaPayload,
        )
