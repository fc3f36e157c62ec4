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
    client_id: str = strawberry.field(description="This server's client id at the provider.")
    client_secret: str = strawberry.field(description="Stored encrypted; never shown again.")
    scopes: list[str] | None = strawberry.field(
        default=None, description="Default: openid email profile."
    )
    icon_url: str | None = strawberry.field(
        default=None, description="An icon URL for the login page; default: none."
    )
    allow_signup: bool = strawberry.field(
        default=False,
        description="Whether a first sign-in may create an account (when the server's sign-up "
        "is on and needs no approval).",
    )
    allowed_domains: list[str] | None = strawberry.field(
        default=None,
        description="E-mail domains it may link or create accounts for; default: any.",
    )
    admin_claim: str | None = strawberry.field(
        default=None,
        description="claim or claim=value: a user whose ID token has it becomes an "
        "administrator; default: none.",
    )
    enabled: bool = strawberry.field(
        default=True, description="Whether users can sign in with it now."
    )

    def to_domain(self) -> ProviderInput:
        return ProviderInput.of(self)


@strawberry.input(description="Changes to an identity provider; what is left out stays.")
class UpdateIdentityProviderInput:
    name: str | None = strawberry.field(default=None, description="Shown on the login page.")
    issuer: str | None = strawberry.field(
        default=None, description="The issuer URL (discovery is read from it)."
    )
    client_id: str | None = strawberry.field(
        default=None, description="This server's client id at the provider."
    )
    client_secret: str | None = strawberry.field(
        default=None, description="A new secret replaces the stored one."
    )
    scopes: list[str] | None = strawberry.field(
        default=None, description="The scopes to ask for at sign-in."
    )
    icon_url: str | None = strawberry.field(default=None, description="Empty: no icon.")
    allow_signup: bool | None = strawberry.field(
        default=None, description="Whether a first sign-in may create an account."
    )
    allowed_domains: list[str] | None = strawberry.field(
        default=None,
        description="E-mail domains it may link or create accounts for; empty list: any.",
    )
    admin_claim: str | None = strawberry.field(default=None, description="Empty: none.")
    enabled: bool | None = strawberry.field(
        default=None, description="Whether users can sign in with it now."
    )

    def to_domain(self) -> ProviderInput:
        return ProviderInput.of(self)
