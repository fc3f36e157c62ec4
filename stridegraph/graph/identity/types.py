"""Types of the identity family: providers, linked identities and the payloads."""

from __future__ import annotations

import datetime as dt

import strawberry

from stridegraph.db import models
from stridegraph.domain.identity import LinkedIdentity
from stridegraph.graph.auth.types import global_id
from stridegraph.graph.errors import UserError


@strawberry.type(description="An identity provider as a login page shows it.")
class SignInProvider:
    id: strawberry.ID = strawberry.field(
        description="Pass to startExternalLogin or startLinkIdentity."
    )
    name: str
    icon_url: str | None

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
    id: strawberry.ID
    slug: str = strawberry.field(description="The provider's fixed short name.")
    name: str
    icon_url: str | None
    issuer: str
    client_id: str
    has_client_secret: bool
    scopes: list[str]
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
    enabled: bool
    from_configuration: bool = strawberry.field(
        description="Declared in the server's configuration (read-only here)."
    )
    created_at: dt.datetime
    updated_at: dt.datetime

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
    id: strawberry.ID
    provider: SignInProvider | None
    subject: str = strawberry.field(description="The provider's identifier of the account.")
    created_at: dt.datetime

    @classmethod
    def from_linked(cls, found: LinkedIdentity) -> Identity:
        link = found.link
        return cls(
            id=global_id("Identity", link.id),
            provider=SignInProvider.from_row(found.provider) if found.provider else None,
            subject=link.subject,
            created_at=link.created_at,
        )


@strawberry.type
class IdentityProviderPayload:
    identity_provider: IdentityProvider | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteIdentityProviderPayload:
    deleted_identity_provider_id: strawberry.ID | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="Where to send the browser to sign in with the provider.")
class ExternalLoginStartPayload:
    authorization_url: str | None = strawberry.field(
        default=None,
        description="The provider's authorization URL; it comes back to redirectUri with "
        "code and state (valid for ten minutes, once).",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class IdentityPayload:
    identity: Identity | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
