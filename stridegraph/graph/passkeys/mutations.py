"""Passkey mutations: the two ceremonies (registration, sign-in) and managing passkeys."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from stridegraph.domain import passkeys as passkeys_domain
from stridegraph.domain.scopes import PROFILE_WRITE, USERS_WRITE
from stridegraph.graph.arguments import (
    OptionalCode,
    OptionalCurrentPassword,
    PasskeyId,
    RefreshTokenInCookie,
    UserId,
    proof,
)
from stridegraph.graph.auth.sign_in import sign_in
from stridegraph.graph.auth.types import LoginPayload
from stridegraph.graph.errors import GlobalId, run_mutation
from stridegraph.graph.passkeys.types import (
    DeletePasskeyPayload,
    FinishPasskeyRegistrationPayload,
    Passkey,
    RenamePasskeyPayload,
    RevokeUserPasskeysPayload,
    StartPasskeyLoginPayload,
    StartPasskeyRegistrationPayload,
)
from stridegraph.graph.permissions import HasScope, requires
from stridegraph.graph.user_admin import on_user, revoked

CREDENTIAL_HELP = (
    "The PublicKeyCredential the browser gave, as JSON (its toJSON(): id, rawId, type, "
    "response with base64url values, clientExtensionResults)."
)

LINK_HELP = (
    "The token of a set-password (or password-reset) link we mailed: registers a passkey "
    "for that account instead of setting a password."
)


@strawberry.type
class PasskeyMutations:
    @strawberry.mutation(
        description="Begin adding a passkey: options for navigator.credentials.create. "
        "Signed in (profile:write), with proof of recent sign-in: currentPassword, or code "
        "(MFA), or a sign-in within the last few minutes (else REAUTHENTICATION_REQUIRED). "
        "Or, signed in or not, with the token of a mailed set-password link instead."
    )
    async def start_passkey_registration(
        self,
        info: Info,
        current_password: OptionalCurrentPassword = None,
        code: OptionalCode = None,
        token: Annotated[str | None, strawberry.argument(description=LINK_HELP)] = None,
    ) -> StartPasskeyRegistrationPayload:
        if token is None:
            HasScope(PROFILE_WRITE).has_permission(None, info)
        return await run_mutation(
            info,
            passkeys_domain.start_registration,
            lambda ceremony: StartPasskeyRegistrationPayload(options=JSON(ceremony.options)),
            StartPasskeyRegistrationPayload,
            token=token,
            proof=proof(info, current_password, code),
        )

    @strawberry.mutation(
        description="Finish adding a passkey with what navigator.credentials.create gave. "
        "The attestation is verified when the authenticator sent one. With token (the one "
        "startPasskeyRegistration had), the set-password link is used up."
    )
    async def finish_passkey_registration(
        self,
        info: Info,
        credential: Annotated[JSON, strawberry.argument(description=CREDENTIAL_HELP)],
        name: Annotated[
            str | None,
            strawberry.argument(description="What to call it (at most 100 characters)."),
        ] = None,
        token: Annotated[str | None, strawberry.argument(description=LINK_HELP)] = None,
    ) -> FinishPasskeyRegistrationPayload:
        if token is None:
            HasScope(PROFILE_WRITE).has_permission(None, info)
        return await run_mutation(
            info,
            passkeys_domain.finish_registration,
            lambda row: FinishPasskeyRegistrationPayload(passkey=Passkey.from_row(row)),
            FinishPasskeyRegistrationPayload,
            credential=credential,
            name=name,
            token=token,
        )

    @strawberry.mutation(
        description="Begin signing in with a passkey: options for navigator.credentials.get. "
        "Without username, any passkey the browser holds for this site may answer."
    )
    async def start_passkey_login(
        self,
        info: Info,
        username: Annotated[
            str | None,
            strawberry.argument(
                description="Your username, to offer only your passkeys; leave it out to let "
                "any passkey of this site answer."
            ),
        ] = None,
    ) -> StartPasskeyLoginPayload:
        return await run_mutation(
            info,
            passkeys_domain.start_login,
            lambda ceremony: StartPasskeyLoginPayload(options=JSON(ceremony.options)),
            StartPasskeyLoginPayload,
            username=username,
        )

    @strawberry.mutation(
        description="Finish signing in with what navigator.credentials.get gave; answers "
        "like login. A passkey that verified the user (PIN, biometrics) satisfies MFA; "
        "otherwise a user with MFA on gets mfaRequired and an mfaToken."
    )
    async def finish_passkey_login(
        self,
        info: Info,
        credential: Annotated[JSON, strawberry.argument(description=CREDENTIAL_HELP)],
        refresh_token_in_cookie: RefreshTokenInCookie = None,
    ) -> LoginPayload:
        return await sign_in(
            info,
            passkeys_domain.finish_login,
            refresh_token_in_cookie=refresh_token_in_cookie,
            credential=credential,
        )

    @strawberry.mutation(
        description="Rename one of your passkeys.", extensions=[requires(scope=PROFILE_WRITE)]
    )
    async def rename_passkey(
        self,
        info: Info,
        id: PasskeyId,
        name: Annotated[str, strawberry.argument(description="The new name.")],
    ) -> RenamePasskeyPayload:
        return await run_mutation(
            info,
            passkeys_domain.rename_passkey,
            lambda row: RenamePasskeyPayload(passkey=Passkey.from_row(row)),
            RenamePasskeyPayload,
            passkey_id=GlobalId(id, "Passkey"),
            name=name,
        )

    @strawberry.mutation(
        description="Remove one of your passkeys. Refused (LAST_SIGN_IN_METHOD) when it is "
        "your only way to sign in. Needs proof of recent sign-in, like "
        "startPasskeyRegistration.",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def delete_passkey(
        self,
        info: Info,
        id: PasskeyId,
        current_password: OptionalCurrentPassword = None,
        code: OptionalCode = None,
    ) -> DeletePasskeyPayload:
        return await run_mutation(
            info,
            passkeys_domain.delete_passkey,
            lambda row: DeletePasskeyPayload(passkey=Passkey.from_row(row)),
            DeletePasskeyPayload,
            passkey_id=GlobalId(id, "Passkey"),
            proof=proof(info, current_password, code),
        )

    @strawberry.mutation(
        description="Remove every passkey of a user (administrators), e.g. after a device "
        "was lost. The user keeps their password, if any.",
        extensions=[requires(scope=USERS_WRITE, admin=True)],
    )
    async def revoke_user_passkeys(self, info: Info, id: UserId) -> RevokeUserPasskeysPayload:
        return await on_user(
            info,
            id,
            passkeys_domain.revoke_user_passkeys,
            revoked(RevokeUserPasskeysPayload),
            RevokeUserPasskeysPayload,
        )
