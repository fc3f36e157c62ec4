"""Types of the passkeys family: a passkey as its owner (or an administrator) sees it, and
the payloads. Key material never leaves the server."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.scalars import JSON

from stridegraph.db import models
from stridegraph.domain.passkeys import transports_of
from stridegraph.graph.auth.types import global_id
from stridegraph.graph.errors import UserError


@strawberry.type(description="A passkey (WebAuthn credential) that signs in to an account.")
class Passkey:
    id: strawberry.ID
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None = strawberry.field(description="Null if never used.")
    transports: list[str] = strawberry.field(
        description="How the browser reaches the authenticator (usb, nfc, ble, internal, "
        "hybrid…), as it reported at registration."
    )
    backup_eligible: bool = strawberry.field(
        description="Whether the passkey can be synced to other devices (a multi-device "
        "credential)."
    )
    backed_up: bool = strawberry.field(
        description="Whether the authenticator said, at its last use, that it is synced."
    )
    aaguid: str = strawberry.field(
        description="The authenticator model's identifier (all zeros when not disclosed)."
    )

    @classmethod
    def from_row(cls, row: models.Passkey) -> Passkey:
        return cls(
            id=global_id("Passkey", row.id),
            name=row.name,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            transports=transports_of(row),
            backup_eligible=row.backup_eligible,
            backed_up=row.backed_up,
            aaguid=row.aaguid,
        )


@strawberry.type
class StartPasskeyRegistrationPayload:
    options: JSON | None = strawberry.field(
        default=None,
        description="PublicKeyCredentialCreationOptions as JSON (binary values base64url): "
        "pass to PublicKeyCredential.parseCreationOptionsFromJSON, then "
        "navigator.credentials.create. Valid for 5 minutes, once.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class FinishPasskeyRegistrationPayload:
    passkey: Passkey | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class StartPasskeyLoginPayload:
    options: JSON | None = strawberry.field(
        default=None,
        description="PublicKeyCredentialRequestOptions as JSON (binary values base64url): "
        "pass to PublicKeyCredential.parseRequestOptionsFromJSON, then "
        "navigator.credentials.get. Valid for 5 minutes, once.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RenamePasskeyPayload:
    passkey: Passkey | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeletePasskeyPayload:
    passkey: Passkey | None = strawberry.field(default=None, description="The deleted passkey.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RevokeUserPasskeysPayload:
    revoked_count: int = strawberry.field(default=0, description="How many passkeys were removed.")
    errors: list[UserError] = strawberry.field(default_factory=list)
