"""Types of the history family: security events, notification choices, data exports."""

from __future__ import annotations

import datetime as dt
import enum
from typing import cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from stridegraph.db import models
from stridegraph.domain import export as export_domain
from stridegraph.domain import security_events as events_domain
from stridegraph.domain.security_alerts import Alert
from stridegraph.domain.security_events import EventType
from stridegraph.graph import ids
from stridegraph.graph.enums import described_enum
from stridegraph.graph.errors import Payload, outcome
from stridegraph.graph.users.types import User, visible_users

SecurityEventType = described_enum(
    EventType,
    name="SecurityEventType",
    description="What a security event records. ADMIN_* are administrators' actions on "
    "another account; IDENTITY_PROVIDER_* are administrators' changes to the server's "
    "identity providers (no subject).",
    values={
        "SIGN_IN_SUCCEEDED": "A sign-in succeeded.",
        "SIGN_IN_FAILED": "A sign-in was refused (detail.reason says why).",
        "LOCKOUT": "Sign-ins were refused for a while after too many failed tries.",
        "PASSWORD_CHANGED": "The password was changed by its owner.",
        "PASSWORD_RESET": "The password was reset through a mailed link.",
        "EMAIL_CHANGE_REQUESTED": "A change of e-mail address was asked for (a link was sent "
        "to the new address).",
        "EMAIL_CHANGE_CONFIRMED": "The new e-mail address was confirmed and is now in use.",
        "MFA_ENABLED": "Two-factor authentication was turned on.",
        "MFA_DISABLED": "Two-factor authentication was turned off.",
        "BACKUP_CODE_USED": "A backup code was used to sign in or confirm.",
        "BACKUP_CODES_REGENERATED": "New backup codes were made; the old ones no longer work.",
        "SESSION_REVOKED": "A session was signed out.",
        "API_TOKEN_CREATED": "An API token was created.",
        "API_TOKEN_REVOKED": "An API token was revoked.",
        "PASSKEY_ADDED": "A passkey was added.",
        "PASSKEY_REMOVED": "A passkey was removed.",
        "IDENTITY_LINKED": "An external sign-in identity was linked.",
        "IDENTITY_UNLINKED": "An external sign-in identity was unlinked.",
        "PROFILE_UPDATED": "The profile was changed.",
        "PRIVACY_SETTINGS_CHANGED": "The privacy settings were changed.",
        "NOTIFICATION_SETTINGS_CHANGED": "The security mail settings were changed.",
        "DATA_EXPORT_REQUESTED": "A data export was asked for.",
        "SERVER_SETTINGS_CHANGED": "An administrator changed the server settings.",
        "ADMIN_USER_CREATED": "An administrator created the account.",
        "ADMIN_USER_UPDATED": "An administrator changed the account.",
        "ADMIN_USER_APPROVED": "An administrator approved the account.",
        "ADMIN_USER_DELETED": "An administrator deleted the account.",
        "ADMIN_PASSWORD_SET": "An administrator set the account's password.",
        "ADMIN_PASSWORD_RESET_SENT": "An administrator sent the account a password reset link.",
        "ADMIN_MFA_RESET": "An administrator turned off the account's two-factor authentication.",
        "ADMIN_SESSIONS_REVOKED": "An administrator signed out all the account's sessions.",
        "ADMIN_API_TOKENS_REVOKED": "An administrator revoked all the account's API tokens.",
        "ADMIN_PHOTO_DELETED": "An administrator deleted the account's photo.",
        "ADMIN_PASSKEYS_REVOKED": "An administrator removed all the account's passkeys.",
        "ADMIN_IDENTITY_REMOVED": "An administrator unlinked one of the account's external "
        "sign-in identities.",
        "IDENTITY_PROVIDER_CREATED": "An administrator added an identity provider.",
        "IDENTITY_PROVIDER_UPDATED": "An administrator changed an identity provider.",
        "IDENTITY_PROVIDER_DELETED": "An administrator removed an identity provider.",
    },
)
SecurityNotification = described_enum(
    Alert,
    name="SecurityNotification",
    description="A kind of security mail. PASSWORD_CHANGED and MFA_DISABLED cannot be turned off.",
    values={
        "NEW_SIGN_IN": "A sign-in from a new device or browser.",
        "API_TOKEN": "An API token was created.",
        "PASSKEY": "A passkey was added.",
        "IDENTITY": "An external sign-in identity was linked.",
        "PASSWORD_CHANGED": "The password was changed or reset (always sent).",
        "MFA_DISABLED": "Two-factor authentication was turned off (always sent).",
    },
)


def global_id(type_name: str, row_id: int) -> strawberry.ID:
    return strawberry.ID(ids.to_global_id(type_name, row_id))


@strawberry.type(
    description="Something security-relevant that happened to an account: a sign-in, a "
    "credential change, an administrator's action."
)
class SecurityEvent:
    id: strawberry.ID = strawberry.field(description="The event's global id.")
    at: dt.datetime = strawberry.field(description="When it happened.")
    type: SecurityEventType = strawberry.field(  # type: ignore[valid-type]
        description="What happened."
    )
    client_address: str | None = strawberry.field(
        description="The client's address (behind trusted proxies, the forwarded one)."
    )
    user_agent: str | None = strawberry.field(
        description="A summary of the client's user agent, e.g. 'Firefox 121 on Ubuntu'."
    )
    session_id: strawberry.ID | None = strawberry.field(
        description="The session it was made with (a Session id), if any."
    )
    detail: JSON = strawberry.field(
        description="A small object with the event's particulars (never a secret): e.g. "
        "method and reason of a sign-in, the fields a change touched."
    )
    actor_id: strawberry.Private[int | None]
    subject_id: strawberry.Private[int | None]

    @strawberry.field(
        description="Who did it; null when nobody is known (a failed sign-in for an unknown "
        "account), the account is gone, or you may not see them."
    )
    async def actor(self, info: Info) -> User | None:
        if self.actor_id is None:
            return None
        return (await visible_users(info, [self.actor_id]))[0]

    @strawberry.field(description="Whose account it concerns; null when none or not visible.")
    async def subject(self, info: Info) -> User | None:
        if self.subject_id is None:
            return None
        return (await visible_users(info, [self.subject_id]))[0]

    @classmethod
    def from_row(cls, row: models.SecurityEvent) -> SecurityEvent:
        return cls(
            id=global_id("SecurityEvent", row.id),
            at=row.at,
            type=EventType(row.type),
            client_address=row.client_address,
            user_agent=row.user_agent,
            session_id=global_id("Session", row.session_id) if row.session_id else None,
            detail=cast(JSON, dict(row.detail or {})),
            actor_id=row.actor_id,
            subject_id=row.subject_id,
        )


@strawberry.type(description="A security event in a connection, with its cursor.")
class SecurityEventEdge:
    cursor: str = strawberry.field(description="Pass as after to get the events after this one.")
    node: SecurityEvent = strawberry.field(description="The event.")


@strawberry.type(description="A page of security events, newest first (keyset cursors).")
class SecurityEventConnection:
    edges: list[SecurityEventEdge] = strawberry.field(
        description="The events of this page, with their cursors."
    )
    page_info: relay.PageInfo = strawberry.field(
        description="Whether more events follow, and the cursors to get them."
    )

    @strawberry.field(description="The events of this page, without cursors.")
    def nodes(self) -> list[SecurityEvent]:
        return [edge.node for edge in self.edges]

    @classmethod
    def from_page(cls, page: events_domain.Page, after: str | None) -> SecurityEventConnection:
        edges = [
            SecurityEventEdge(cursor=e.cursor, node=SecurityEvent.from_row(e.event))
            for e in page.edges
        ]
        return cls(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


@strawberry.input(description="Which of your security events to list.")
class SecurityEventFilter:
    type: list[SecurityEventType] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Only events of these types."
    )
    since: dt.datetime | None = strawberry.field(default=None, description="At or after.")
    until: dt.datetime | None = strawberry.field(default=None, description="Before.")

    def to_domain(self) -> events_domain.Wanted:
        return events_domain.Wanted(
            types=tuple(self.type) if self.type else None, since=self.since, until=self.until
        )


@strawberry.input(description="Which events of the audit log to list.")
class AuditEventFilter:
    actor: strawberry.ID | None = strawberry.field(
        default=None, description="Only events done by this user (a User id)."
    )
    subject: strawberry.ID | None = strawberry.field(
        default=None, description="Only events about this user (a User id)."
    )
    type: list[SecurityEventType] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Only events of these types."
    )
    since: dt.datetime | None = strawberry.field(default=None, description="At or after.")
    until: dt.datetime | None = strawberry.field(default=None, description="Before.")


@strawberry.enum(description="Where a data export is.")
class DataExportState(enum.Enum):
    PENDING = strawberry.enum_value("pending", description="Being made; ask again later.")
    READY = strawberry.enum_value("ready", description="Made: download it before expiresAt.")
    FAILED = strawberry.enum_value("failed", description="Could not be made; ask for a new one.")


@strawberry.type(
    description="An archive of your data (ZIP: a JSON document per part, and a README)."
)
class DataExport:
    id: strawberry.ID = strawberry.field(description="The export's global id.")
    state: DataExportState = strawberry.field(description="Where the export is.")
    created_at: dt.datetime = strawberry.field(description="When it was asked for.")
    completed_at: dt.datetime | None = strawberry.field(
        description="When it was made (or failed); null while pending."
    )
    expires_at: dt.datetime | None = strawberry.field(
        description="Until when it can be downloaded; then it is deleted."
    )
    size_bytes: int | None = strawberry.field(
        description="The archive's size in bytes; null until it is ready."
    )
    download_url: str | None = strawberry.field(
        description="GET it with your bearer token while it is ready and not expired."
    )

    @classmethod
    def from_row(cls, row: models.DataExport, public_url: str, now: dt.datetime) -> DataExport:
        return cls(
            id=global_id("DataExport", row.id),
            state=DataExportState(row.state),
            created_at=row.created_at,
            completed_at=row.completed_at,
            expires_at=row.expires_at,
            size_bytes=row.size_bytes,
            download_url=export_domain.download_url(public_url, row.id)
            if export_domain.is_downloadable(row, now)
            else None,
        )


@strawberry.type(description="The data export just asked for.")
class RequestDataExportPayload(Payload):
    data_export: DataExport | None = outcome("The new export (pending)")


@strawberry.type(description="Which security mails you get.")
class SecurityNotificationSettings:
    turned_off: list[SecurityNotification] = strawberry.field(  # type: ignore[valid-type]
        description="The kinds you turned off."
    )
    optional: list[SecurityNotification] = strawberry.field(  # type: ignore[valid-type]
        description="The kinds that can be turned off."
    )


@strawberry.type(description="Your security mail settings after the change.")
class UpdateSecurityNotificationsPayload(Payload):
    settings: SecurityNotificationSettings | None = outcome("The settings as they are now")
