"""Inputs of the identity family."""

from __future__ import annotations

import strawberry

from stridegraph.domain.identity_providers import ProviderInput


@strawberry.input(description="A new OpenID Connect identity provider.")
class CreateIdentityProviderInput:
    slug: str = strawberry.field(
        description="A fixed short name: lower-case letters, digits and hyphens."
    )
    name: str = strawberry.field(description="Shown on the login page.")
    issuer: str = strawberry.field(description="The issuer URL (discovery is read from it).")
    client_id: str
    client_secret: str = strawberry.field(description="Stored encrypted; never shown again.")
    scopes: list[str] | None = strawberry.field(
        default=None, description="Default: openid email profile."
    )
    icon_url: str | None = None
    allow_signup: bool = False
    allowed_domains: list[str] | None = None
    admin_claim: str | None = None
    enabled: bool = True

    def to_domain(self) -> ProviderInput:
        return ProviderInput(
            slug=self.slug,
            name=self.name,
            issuer=self.issuer,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=self.scopes,
            icon_url=self.icon_url,
            allow_signup=self.allow_signup,
            allowed_domains=self.allowed_domains,
            admin_claim=self.admin_claim,
            enabled=self.enabled,
        )


@strawberry.input(description="Changes to an identity provider; what is left out stays.")
class UpdateIdentityProviderInput:
    name: str | None = None
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = strawberry.field(
        default=None, description="A new secret replaces the stored one."
    )
    scopes: list[str] | None = None
    icon_url: str | None = strawberry.field(default=None, description="Empty: no icon.")
    allow_signup: bool | None = None
    allowed_domains: list[str] | None = None
    admin_claim: str | None = strawberry.field(default=None, description="Empty: none.")
    enabled: bool | None = None

    def to_domain(self) -> ProviderInput:
        return ProviderInput(
            name=self.name,
            issuer=self.issuer,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=self.scopes,
            icon_url=self.icon_url,
            allow_signup=self.allow_signup,
            allowed_domains=self.allowed_domains,
            admin_claim=self.admin_claim,
            enabled=self.enabled,
        )
