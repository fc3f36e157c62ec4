"""Types of the passkeys family: a passkey as its owner (or an administrator) sees it, and
the payloads. Key material never leaves the server."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.scalars import JSON

from stridegraph.db import models
from stridegraph.domain.passkeys import transports_of
from stridegraph.graph.auth.types import global_id
from stridegraph.graph.errors import Payload, outcome


@strawberry.type(description="A passkey (WebAuthn credential) that signs in to an account.")
class Passkey:
    id: strawberry.ID = strawberry.field(description="The passkey's global id.")
    name: str = strawberry.field(description="The name its owner gave it.")
    created_at: dt.datetime = strawberry.field(description="When it was registered.")
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


@strawberry.type(description="The options for registering a new passkey in the browser.")
class StartPasskeyRegistrationPayload(Payload):
    options: JSON | None = strawberry.field(
        default=None,
        description="PublicKeyCredentialCreationOptions as JSON (binary values base64url): "
        "pass to PublicKeyCredential.parseCreationOptionsFromJSON, then "
        "navigator.credentials.create. Valid for 5 minutes, once.",
    )


@strawberry.type(description="The passkey just registered.")
class FinishPasskeyRegistrationPayload(Payload):
    passkey: Passkey | None = outcome("The new passkey")


@strawberry.type(description="The options for signing in with a passkey in the browser.")
class StartPasskeyLoginPayload(Payload):
    options: JSON | None = strawberry.field(
        default=None,
        description="PublicKeyCredentialRequestOptions as JSON (binary values base64url): "
        "pass to PublicKeyCredential.parseRequestOptionsFromJSON, then "
        "navigator.credentials.get. Valid for 5 minutes, once.",
    )


@strawberry.type(description="The renamed passkey.")
class RenamePasskeyPayload(Payload):
    passkey: Passkey | None = outcome("The passkey with its new name")


@strawberry.type(description="The passkey just deleted.")
class DeletePasskeyPayload(Payload):
    passkey: Passkey | None = strawberry.field(default=None, description="The deleted passkey.")


@strawberry.type(description="How many of the account's passkeys were removed.")
class RevokeUserPasskeysPayload(Payload):
    revoked_count: int = strawberry.field(default=0, description="How many passkeys were removed.")
