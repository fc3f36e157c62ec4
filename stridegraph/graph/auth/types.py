"""Types of the auth family: sessions, API tokens and the mutation payloads."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry import relay

from stridegraph.db import models
from stridegraph.domain.api_tokens import parse_scopes
from stridegraph.domain.login_finish import LoginResult
from stridegraph.domain.scopes import ALL_SCOPES
from stridegraph.domain.security_events import user_agent_summary
from stridegraph.graph.errors import Payload, outcome
from stridegraph.graph.users.types import UserMe


def global_id(type_name: str, row_id: int) -> strawberry.ID:
    return strawberry.ID(relay.to_base64(type_name, row_id))


@strawberry.type(description="A login session of the signed-in user (one device or browser).")
class Session:
    id: strawberry.ID = strawberry.field(description="The session's global id.")
    created_at: dt.datetime = strawberry.field(description="When you signed in with it.")
    last_used_at: dt.datetime = strawberry.field(description="Accurate to about a minute.")
    user_agent: str | None = strawberry.field(
        description="The User-Agent header the client sent; null if none."
    )
    client_address: str | None = strawberry.field(
        description="The client's address (behind trusted proxies, the forwarded one)."
    )
    expires_at: dt.datetime = strawberry.field(
        description="When the session ends unless refreshed before."
    )
    current: bool = strawberry.field(description="Whether this request was made with it.")

    @strawberry.field(
        description="The user agent in short, e.g. 'Firefox 121 on Ubuntu', to recognise "
        "the device by."
    )
    async def user_agent_summary(self) -> str | None:
        return await user_agent_summary(self.user_agent)

    @classmethod
    def from_row(cls, row: models.Session, current_session_id: int | None) -> Session:
        return cls(
            id=global_id("Session", row.id),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            user_agent=row.user_agent,
            client_address=row.client_address,
            expires_at=row.refresh_expires_at,
            current=row.id == current_session_id,
        )


@strawberry.type(description="A personal API token (its secret is only shown at creation).")
class ApiToken:
    id: strawberry.ID = strawberry.field(description="The token's global id.")
    name: str = strawberry.field(description="The name its owner gave it.")
    prefix: str = strawberry.field(description="The token's first characters, to recognise it.")
    scopes: list[str] = strawberry.field(description="What the token may do (scope names).")
    created_at: dt.datetime = strawberry.field(description="When it was created.")
    expires_at: dt.datetime | None = strawberry.field(
        description="When it stops working; null if it never expires."
    )
    last_used_at: dt.datetime | None = strawberry.field(
        description="Accurate to about a minute; null if never used."
    )

    @classmethod
    def from_row(cls, row: models.ApiToken) -> ApiToken:
        held = parse_scopes(row.scopes)
        return cls(
            id=global_id("ApiToken", row.id),
            name=row.name,
            prefix=row.token_prefix,
            scopes=[s for s in ALL_SCOPES if s in held],
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
        )


@strawberry.type(
    description="A login's outcome: tokens, or (MFA on) an mfaToken for completeMfaLogin."
)
class LoginPayload(Payload):
    access_token: str | None = strawberry.field(
        default=None,
        description="Send as 'Authorization: Bearer <token>' until expiresAt; null when "
        "mfaRequired or refused.",
    )
    refresh_token: str | None = strawberry.field(
        default=None,
        description="Pass to refreshSession for new tokens (once); null when mfaRequired or "
        "refused.",
    )
    expires_at: dt.datetime | None = strawberry.field(
        default=None, description="When the access token expires."
    )
    refresh_expires_at: dt.datetime | None = strawberry.field(
        default=None, description="When the refresh token expires."
    )
    user: UserMe | None = strawberry.field(
        default=None, description="You; null when mfaRequired or refused."
    )
    mfa_required: bool = strawberry.field(
        default=False,
        description="True when a second factor is needed: call completeMfaLogin with mfaToken.",
    )
    mfa_token: str | None = strawberry.field(
        default=None, description="Pass to completeMfaLogin with a code; short-lived."
    )

    @classmethod
    def from_result(cls, result: LoginResult, context: Any) -> LoginPayload:
        """Tokens and the user, or (MFA on) only the challenge: shared by login and
        completeMfaLogin, which answer alike."""
        if result.session is None:
            return cls(mfa_required=True, mfa_token=result.mfa_token)
        issued = result.session
        return cls(
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            expires_at=issued.access_expires_at,
            refresh_expires_at=issued.refresh_expires_at,
            user=UserMe.of(result.user, context),
        )


@strawberry.type(description="New tokens for a session; the refresh token given is now spent.")
class RefreshSessionPayload(Payload):
    access_token: str | None = outcome("The new access token")
    refresh_token: str | None = outcome("The new refresh token (for the next refresh)")
    expires_at: dt.datetime | None = strawberry.field(
        default=None, description="When the access token expires."
    )
    refresh_expires_at: dt.datetime | None = strawberry.field(
        default=None, description="When the refresh token expires."
    )


@strawberry.type(description="The session is over (or the errors).")
class LogoutPayload(Payload):
    pass


@strawberry.type(description="The session that ended, or the errors.")
class RevokeSessionPayload(Payload):
    session: Session | None = strawberry.field(default=None, description="The revoked session.")


@strawberry.type(description="How many sessions and API tokens of the user ended, or the errors.")
class RevokeUserSessionsPayload(Payload):
    revoked_count: int = strawberry.field(default=0, description="How many sessions ended.")
    revoked_api_token_count: int = strawberry.field(
        default=0, description="How many API tokens ended."
    )


@strawberry.type(description="The new API token, its secret shown this once, or the errors.")
class CreateApiTokenPayload(Payload):
    token: str | None = strawberry.field(
        default=None, description="The secret: shown this once, never again."
    )
    api_token: ApiToken | None = outcome("The new token's record")


@strawberry.type(description="The API token that ended, or the errors.")
class RevokeApiTokenPayload(Payload):
    api_token: ApiToken | None = strawberry.field(default=None, description="The revoked token.")


@strawberry.type(
    description="You, with the new password (your other sessions ended), or the errors."
)
class ChangePasswordPayload(Payload):
    user: UserMe | None = outcome("You, as you are now")
