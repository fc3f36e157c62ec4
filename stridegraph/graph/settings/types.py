"""``ServerSettings``: the public part of the server-wide settings."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from stridegraph.domain.settings import EffectiveSettings
from stridegraph.graph.enums import PasswordPolicy


@strawberry.type(description="Server-wide settings, as they apply now.")
class ServerSettings:
    signup_enabled: bool = strawberry.field(description="Whether signUp is open.")
    signup_require_email_verification: bool = strawberry.field(
        description="False whenever mail is disabled, whatever is stored."
    )
    signup_require_admin_approval: bool = strawberry.field(
        description="Whether a new account waits for an administrator (approveUser)."
    )
    public_profiles: bool = strawberry.field(
        description="Whether anonymous clients may read public fields of active users."
    )
    password_policy: PasswordPolicy = strawberry.field(  # type: ignore[valid-type]
        description="What a new password must hold besides its length."
    )
    password_min_length_regular: int = strawberry.field(
        description="The shortest password a regular user may set."
    )
    password_min_length_admin: int = strawberry.field(
        description="The shortest password an administrator may set."
    )
    mail_enabled: bool = strawberry.field(description="Whether this server can send mail.")

    @strawberry.field(
        description="Whether signUp may leave out the password: the mailed link then "
        "registers a passkey (or sets a password). Never without mail."
    )
    def passwordless_signup(self, info: Info) -> bool:
        return bool(info.context.services.settings.passwordless_signup and self.mail_enabled)

    @classmethod
    def from_domain(cls, s: EffectiveSettings) -> ServerSettings:
        return cls(
            signup_enabled=s.signup_enabled,
            signup_require_email_verification=s.signup_require_email_verification,
            signup_require_admin_approval=s.signup_require_admin_approval,
            public_profiles=s.public_profiles,
            password_policy=s.password_policy,
            password_min_length_regular=s.password_min_length_regular,
            password_min_length_admin=s.password_min_length_admin,
            mail_enabled=s.mail_enabled,
        )
