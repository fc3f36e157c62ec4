"""Types of the identity family: providers, linked identities and the payloads."""

from __future__ import annotations

import datetime as dt

import strawberry

from stridegraph.db import models
from stridegraph.domain.identity import LinkedIdentity
from stridegraph.graph.auth.types import global_id
from stridegraph.graph.errors import Payload, outcome


@strawberry.type(description="An identity provider as a login page shows it.")
class SignInProvider:
    id: strawberry.ID = strawberry.field(
        description="Pass to startExternalLogin or startLinkIdentity."
    )
    name: str = strawberry.field(description="The name to show on the sign-in button.")
    icon_url: str | None = strawberry.field(description="An icon for the button, or null.")

    @classmethod
    def from_row(cls, row: models.IdentityProvider) -> SignInProvider:
        return cls(
            id=global_id("IdentityProvider", row.id), name=row.display_name, icon_url=row.icon_url
        )


@strawberry.type(
    description="An OpenID Connect identity provider, for administrators. The client secret "
    "is never shown."
)
class IdentityProvider:
    id: strawberry.ID = strawberry.field(description="The provider's global id.")
    slug: str = strawberry.field(description="The provider's fixed short name.")
    name: str = strawberry.field(description="The name login pages show.")
    icon_url: str | None = strawberry.field(description="The icon login pages show, or null.")
    issuer: str = strawberry.field(
        description="The OpenID Connect issuer URL (its discovery document is read from it)."
    )
    client_id: str = strawberry.field(description="This server's client id at the provider.")
    has_client_secret: bool = strawberry.field(
        description="Whether a client secret is stored (the secret itself is never shown)."
    )
    scopes: list[str] = strawberry.field(description="The scopes asked for at sign-in.")
    allow_signup: bool = strawberry.field(
        description="Whether a first sign-in may create an account (when the server's "
        "sign-up is on and needs no approval)."
    )
    allowed_domains: list[str] = strawberry.field(
        description="E-mail domains it may link or create accounts for; empty: any."
    )
    admin_claim: str | None = strawberry.field(
        description="claim or claim=value: a user whose ID token has it becomes an administrator."
    )
    enabled: bool = strawberry.field(description="Whether users can sign in with it now.")
    from_configuration: bool = strawberry.field(
        description="Declared in the server's configuration (read-only here)."
    )
    created_at: dt.datetime = strawberry.field(description="When it was added.")
    updated_at: dt.datetime = strawberry.field(description="When it was last changed.")

    @classmethod
    def from_row(cls, row: models.IdentityProvider) -> IdentityProvider:
        return cls(
            id=global_id("IdentityProvider", row.id),
            slug=row.slug,
            name=row.display_name,
            icon_url=row.icon_url,
            issuer=row.issuer,
            client_id=row.client_id,
            has_client_secret=True,
            scopes=row.scopes.split(),
            allow_signup=row.allow_signup,
            allowed_domains=row.allowed_domains.split(),
            admin_claim=row.admin_claim,
            enabled=row.enabled,
            from_configuration=row.from_configuration,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="An external identity linked to an account.")
class Identity:
    id: strawberry.ID = strawberry.field(description="The link's global id.")
    provider: SignInProvider | None = strawberry.field(
        description="The provider it signs in with; null if the provider was deleted."
    )
    subject: str = strawberry.field(description="The provider's identifier of the account.")
    created_at: dt.datetime = strawberry.field(description="When it was linked.")

    @classmethod
    def from_linked(cls, found: LinkedIdentity) -> Identity:
        link = found.link
        return cls(
            id=global_id("Identity", link.id),
            provider=SignInProvider.from_row(found.provider) if found.provider else None,
            subject=link.subject,
            created_at=link.created_at,
        )


@strawberry.type(description="The identity provider just created or changed.")
class IdentityProviderPayload(Payload):
    identity_provider: IdentityProvider | None = outcome("The provider as it is now")


@strawberry.type(description="The identity provider just deleted.")
class DeleteIdentityProviderPayload(Payload):
    deleted_identity_provider_id: strawberry.ID | None = outcome("The deleted provider's id")


@strawberry.type(description="Where to send the browser to sign in with the provider.")
class ExternalLoginStartPayload(Payload):
    authorization_url: str | None = strawberry.field(
        default=None,
        description="The provider's authorization URL; it comes back to redirectUri with "
        "code and state (valid for ten minutes, once).",
    )


@strawberry.type(description="The external identity just linked or unlinked.")
class IdentityPayload(Payload):
    identity: Identity | None = outcome("The identity")
