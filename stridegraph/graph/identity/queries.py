"""``signInProviders``, ``identityProviders``, ``myIdentities`` and ``userIdentities``."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from stridegraph.domain import identity as identity_domain
from stridegraph.domain import identity_providers as providers_domain
from stridegraph.domain.scopes import PROFILE_READ, USERS_READ
from stridegraph.graph.arguments import UserId
from stridegraph.graph.errors import run_query
from stridegraph.graph.identity.types import Identity, IdentityProvider, SignInProvider
from stridegraph.graph.permissions import requires
from stridegraph.graph.user_admin import of_user


@strawberry.type
class IdentityQueries:
    @strawberry.field(
        description="The enabled identity providers one may sign in with (anyone: for a "
        "login page)."
    )
    async def sign_in_providers(self, info: Info) -> list[SignInProvider]:
        rows = await run_query(info, providers_domain.sign_in_providers)
        return [SignInProvider.from_row(row) for row in rows]

    @strawberry.field(
        description="Every identity provider, with its settings (administrators).",
        extensions=[requires(scope=USERS_READ, admin=True)],
    )
    async def identity_providers(self, info: Info) -> list[IdentityProvider]:
        rows = await run_query(info, providers_domain.identity_providers)
        return [IdentityProvider.from_row(row) for row in rows]

    @strawberry.field(
        description="The external identities linked to the signed-in user's account.",
        extensions=[requires(scope=PROFILE_READ)],
    )
    async def my_identities(self, info: Info) -> list[Identity]:
        found = await run_query(info, identity_domain.my_identities)
        return [Identity.from_linked(f) for f in found]

    @strawberry.field(
        description="The external identities linked to a user's account (administrators).",
        extensions=[requires(scope=USERS_READ, admin=True)],
    )
    async def user_identities(self, info: Info, id: UserId) -> list[Identity]:
        return await of_user(info, id, identity_domain.user_identities, Identity.from_linked)
