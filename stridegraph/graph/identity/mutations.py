"""Identity providers (administrators), external sign-in, and linking identities."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from stridegraph.db import models
from stridegraph.domain import identity as identity_domain
from stridegraph.domain import identity_providers as providers_domain
from stridegraph.domain.identity import LinkedIdentity
from stridegraph.domain.scopes import PROFILE_WRITE, USERS_WRITE
from stridegraph.graph.arguments import (
    CHANGES,
    NEW,
    IdentityId,
    IdentityProviderId,
    OptionalCode,
    OptionalCurrentPassword,
    ProviderCode,
    ProviderId,
    ProviderState,
    RedirectUri,
    RefreshTokenInCookie,
    proof,
)
from stridegraph.graph.auth.sign_in import sign_in
from stridegraph.graph.auth.types import LoginPayload, global_id
from stridegraph.graph.errors import GlobalId, UserError, run_mutation
from stridegraph.graph.identity.inputs import (
    CreateIdentityProviderInput,
    UpdateIdentityProviderInput,
)
from stridegraph.graph.identity.types import (
    DeleteIdentityProviderPayload,
    ExternalLoginStartPayload,
    Identity,
    IdentityPayload,
    IdentityProvider,
    IdentityProviderPayload,
)
from stridegraph.graph.permissions import requires


def _provider_payload(row: models.IdentityProvider) -> IdentityProviderPayload:
    return IdentityProviderPayload(identity_provider=IdentityProvider.from_row(row))


def _identity_payload(found: LinkedIdentity) -> IdentityPayload:
    return IdentityPayload(identity=Identity.from_linked(found))


def _errors(errors: list[UserError]) -> IdentityProviderPayload:
    return IdentityProviderPayload(errors=errors)


@strawberry.type
class IdentityMutations:
    @strawberry.mutation(
        description="Add an OpenID Connect identity provider (administrators).",
        extensions=[requires(scope=USERS_WRITE, admin=True)],
    )
    async def create_identity_provider(
        self, info: Info, input: Annotated[CreateIdentityProviderInput, NEW]
    ) -> IdentityProviderPayload:
        return await run_mutation(
            info,
            providers_domain.create_identity_provider,
            _provider_payload,
            _errors,
            given=input.to_domain(),
        )

    @strawberry.mutation(
        description="Change an identity provider (administrators); one declared in the "
        "server's configuration is changed there.",
        extensions=[requires(scope=USERS_WRITE, admin=True)],
    )
    async def update_identity_provider(
        self,
        info: Info,
        id: IdentityProviderId,
        input: Annotated[UpdateIdentityProviderInput, CHANGES],
    ) -> IdentityProviderPayload:
        return await run_mutation(
            info,
            providers_domain.update_identity_provider,
            _provider_payload,
            _errors,
            provider_id=GlobalId(id, "IdentityProvider"),
            given=input.to_domain(),
        )

    @strawberry.mutation(
        description="Remove an identity provider and every identity linked through it "
        "(administrators). Refused (LAST_SIGN_IN_METHOD) while an account could sign in no "
        "other way.",
        extensions=[requires(scope=USERS_WRITE, admin=True)],
    )
    async def delete_identity_provider(
        self, info: Info, id: IdentityProviderId
    ) -> DeleteIdentityProviderPayload:
        return await run_mutation(
            info,
            providers_domain.delete_identity_provider,
            lambda row: DeleteIdentityProviderPayload(
                deleted_identity_provider_id=global_id("IdentityProvider", row.id)
            ),
            DeleteIdentityProviderPayload,
            provider_id=GlobalId(id, "IdentityProvider"),
        )

    @strawberry.mutation(
        description="Start signing in with an identity provider (authorization code flow "
        "with PKCE): send the browser to authorizationUrl. redirectUri must be one the "
        "server allows; the provider returns there with code and state for "
        "finishExternalLogin. PROVIDER_UNAVAILABLE when the provider cannot be reached."
    )
    async def start_external_login(
        self, info: Info, provider: ProviderId, redirect_uri: RedirectUri
    ) -> ExternalLoginStartPayload:
        return await run_mutation(
            info,
            identity_domain.start_external_login,
            lambda url: ExternalLoginStartPayload(authorization_url=url),
            ExternalLoginStartPayload,
            provider_id=GlobalId(provider, "IdentityProvider", "provider"),
            redirect_uri=redirect_uri,
        )

    @strawberry.mutation(
        description="Finish signing in with an identity provider, with the code and state "
        "it returned. Answers like login (MFA included). A first sign-in creates an account "
        "only where the provider and the server's sign-up allow it; an existing account is "
        "never matched by e-mail address (link the identity from it instead)."
    )
    async def finish_external_login(
        self,
        info: Info,
        code: ProviderCode,
        state: ProviderState,
        refresh_token_in_cookie: RefreshTokenInCookie = None,
    ) -> LoginPayload:
        return await sign_in(
            info,
            identity_domain.finish_external_login,
            refresh_token_in_cookie=refresh_token_in_cookie,
            code=code,
            state=state,
        )

    @strawberry.mutation(
        description="Start linking an identity provider's account to yours: send the "
        "browser to authorizationUrl, then call finishLinkIdentity. Only with a session, and "
        "with proof of recent sign-in: currentPassword, or code (MFA), or a sign-in within "
        "the last few minutes (else REAUTHENTICATION_REQUIRED).",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def start_link_identity(
        self,
        info: Info,
        provider: ProviderId,
        redirect_uri: RedirectUri,
        current_password: OptionalCurrentPassword = None,
        code: OptionalCode = None,
    ) -> ExternalLoginStartPayload:
        return await run_mutation(
            info,
            identity_domain.start_link_identity,
            lambda url: ExternalLoginStartPayload(authorization_url=url),
            ExternalLoginStartPayload,
            provider_id=GlobalId(provider, "IdentityProvider", "provider"),
            redirect_uri=redirect_uri,
            proof=proof(info, current_password, code),
        )

    @strawberry.mutation(
        description="Finish linking, with the code and state the provider returned.",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def finish_link_identity(
        self, info: Info, code: ProviderCode, state: ProviderState
    ) -> IdentityPayload:
        return await run_mutation(
            info,
            identity_domain.finish_link_identity,
            _identity_payload,
            IdentityPayload,
            code=code,
            state=state,
            client_address=info.context.client_address,
        )

    @strawberry.mutation(
        description="Remove one of your linked identities; refused (LAST_SIGN_IN_METHOD) "
        "when it is your only way to sign in.",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def unlink_identity(self, info: Info, id: IdentityId) -> IdentityPayload:
        return await run_mutation(
            info,
            identity_domain.unlink_identity,
            _identity_payload,
            IdentityPayload,
            identity_id=GlobalId(id, "Identity"),
        )

    @strawberry.mutation(
        description="Remove a user's linked identity (administrators), even their last way "
        "to sign in (give them a password or a reset link afterwards).",
        extensions=[requires(scope=USERS_WRITE, admin=True)],
    )
    async def remove_user_identity(self, info: Info, id: IdentityId) -> IdentityPayload:
        return await run_mutation(
            info,
            identity_domain.remove_user_identity,
            _identity_payload,
            IdentityPayload,
            identity_id=GlobalId(id, "Identity"),
        )
