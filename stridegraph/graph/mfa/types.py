"""Payloads of the MFA mutations. Secrets and backup codes appear only in the answer to the
mutation that made them; nothing else in the schema can read them back."""

from __future__ import annotations

import strawberry

from stridegraph.graph.errors import Payload, outcome
from stridegraph.graph.users.types import User, UserMe


@strawberry.type(description="A new pending TOTP secret; confirm it with enableMfa.")
class SetupMfaPayload(Payload):
    secret: str | None = strawberry.field(
        default=None, description="Base32 secret, for typing into an authenticator by hand."
    )
    otpauth_uri: str | None = strawberry.field(
        default=None, description="The otpauth:// URI authenticator apps import."
    )
    qr_code_svg: str | None = strawberry.field(
        default=None, description="The URI as a QR code: an SVG data: URI for an <img> src."
    )


@strawberry.type(description="A payload that returns the viewer after an MFA change.")
class MfaChangePayload(Payload):
    user: UserMe | None = strawberry.field(
        default=None, description="You, after the change; null on error."
    )

    @strawberry.field(
        description="The same as user.",
        deprecation_reason="Use user, as every other payload names it.",
    )
    def me(self) -> UserMe | None:
        return self.user


@strawberry.type(description="MFA is on. The backup codes are shown this once.")
class EnableMfaPayload(MfaChangePayload):
    backup_codes: list[str] | None = strawberry.field(
        default=None, description="Ten single-use codes for when the authenticator is lost."
    )


@strawberry.type(description="MFA is off; sign-in asks for the password only.")
class DisableMfaPayload(MfaChangePayload):
    pass


@strawberry.type(description="New backup codes, shown this once; the old ones no longer work.")
class RegenerateBackupCodesPayload(Payload):
    backup_codes: list[str] | None = outcome("The new one-time backup codes, shown this once")


@strawberry.type(description="The user whose MFA an administrator turned off, or the errors.")
class ResetUserMfaPayload(Payload):
    user: User | None = outcome("The account as it is now")
