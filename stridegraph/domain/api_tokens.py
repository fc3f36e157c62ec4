"""Personal API tokens for scripts: a recognisable ``sgp_`` prefix, shown once, stored as a
digest, scoped (never beyond what the owner's role allows), expiring by default."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from stridegraph.db import api_tokens as api_token_rows
from stridegraph.db.models import ApiToken
from stridegraph.domain import reauth, security_alerts, tokens
from stridegraph.domain import security_events as events
from stridegraph.domain.errors import Collector, DomainError, ErrorCode, Forbidden
from stridegraph.domain.scopes import ALL_SCOPES, scopes_for
from stridegraph.domain.security_events import EventType
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer

MAX_NAME = 100
PREFIX_LENGTH = 12  # "sgp_" and 8 random characters: enough to tell tokens apart in a list


@dataclass(frozen=True)
class IssuedApiToken:
    row: ApiToken
    token: str


def parse_scopes(raw: str) -> frozenset[str]:
    return frozenset(s for s in raw.split() if s)


def _as_utc(value: dt.datetime) -> dt.datetime | None:
    """The expiry in UTC; a DateTime given without a zone is taken as UTC (the API's zone).
    None when it has no UTC form (``9999-12-31T23:59:59-14:00`` is past the last date)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return None


def _expiry(
    unit: Unit, errors: Collector, expires_at: dt.datetime | None, never_expires: bool
) -> dt.datetime | None:
    """When the new token ends: the given time (in the future), never (only when asked for
    explicitly), or by default ``API_TOKEN_TTL`` from now."""
    if never_expires:
        if expires_at is not None:
            errors.add(
                ErrorCode.INVALID, "Give expiresAt or neverExpires, not both.", "never_expires"
            )
        return None
    if expires_at is None:
        return unit.now() + dt.timedelta(seconds=unit.settings.api_token_ttl_seconds)
    in_utc = _as_utc(expires_at)
    if in_utc is None:
        errors.add(ErrorCode.INVALID, "The expiry is not a representable time.", "expires_at")
    elif in_utc <= unit.now():
        errors.add(ErrorCode.OUT_OF_RANGE, "The expiry must be in the future.", "expires_at")
    return in_utc


def _check_name(errors: Collector, name: str) -> None:
    if not name.strip():
        errors.add(ErrorCode.REQUIRED, "A token needs a name.", "name")
    elif len(name) > MAX_NAME:
        errors.add(ErrorCode.TOO_LONG, f"The name may have at most {MAX_NAME} characters.", "name")


def _check_scopes(errors: Collector, viewer: Viewer, wanted: frozenset[str]) -> None:
    """Known scopes within the owner's role. (Only a session creates tokens, and a session
    holds every scope of its role, so that is also "within the creating credential".)"""
    if not wanted:
        errors.add(ErrorCode.REQUIRED, "Choose at least one scope.", "scopes")
    elif unknown := sorted(wanted - set(ALL_SCOPES)):
        errors.add(ErrorCode.INVALID, f"Unknown scope(s): {', '.join(unknown)}.", "scopes")
    elif beyond := sorted(wanted - scopes_for(viewer.user.access_type)):
        errors.add(
            ErrorCode.SCOPE_NOT_ALLOWED,
            f"Your role cannot grant: {', '.join(beyond)}.",
            "scopes",
        )


async def create_api_token(
    unit: Unit,
    *,
    viewer: Viewer,
    name: str,
    scopes: Sequence[str],
    expires_at: dt.datetime | None = None,
    never_expires: bool = False,
    proof: reauth.Proof = reauth.NO_PROOF,
) -> IssuedApiToken:
    """Create a token for the viewer. Scopes must be known and within the owner's role.

    Only a session may do this, with recent authentication (see ``reauth``): a token is a
    long-lived credential, so neither a stolen access token nor another API token may mint
    one. It expires ``API_TOKEN_TTL`` after creation unless ``expires_at`` or
    ``never_expires`` says otherwise."""
    if viewer.api_token_id is not None:
        raise Forbidden("An API token cannot create API tokens; sign in to make one.")
    errors = Collector()
    _check_name(errors, name)
    wanted = frozenset(scopes)
    _check_scopes(errors, viewer, wanted)
    expires_at = _expiry(unit, errors, expires_at, never_expires)
    errors.raise_if_any()
    await reauth.require_recent_auth(unit, viewer=viewer, proof=proof)
    token, digest = tokens.issue(unit.settings.secret_key, tokens.PERSONAL)
    row = ApiToken(
        user_id=viewer.user_id,
        name=name.strip(),
        token_prefix=token[:PREFIX_LENGTH],
        token_hash=digest,
        scopes=" ".join(s for s in ALL_SCOPES if s in wanted),
        created_at=unit.now(),
        expires_at=expires_at,
    )
    api_token_rows.add(unit.session, row)
    await unit.session.flush()
    await events.record(
        unit,
        type=EventType.API_TOKEN_CREATED,
        subject_id=viewer.user_id,
        viewer=viewer,
        detail={"apiTokenId": row.id, "name": row.name, "scopes": row.scopes.split()},
    )
    await security_alerts.credential_added(
        unit, user=viewer.user, kind=security_alerts.Alert.API_TOKEN, name=row.name
    )
    return IssuedApiToken(row=row, token=token)


async def list_api_tokens(unit: Unit, *, viewer: Viewer) -> list[ApiToken]:
    """The viewer's unrevoked tokens, newest first (expired ones too, so they can be seen
    and cleaned up). Never the secret: only its digest is stored."""
    return await api_token_rows.list_for_user(unit.session, viewer.user_id)


async def revoke_api_token(unit: Unit, *, viewer: Viewer, token_id: int) -> ApiToken:
    """Revoke one of the viewer's own tokens; takes effect on the next request. Another
    user's token, an unknown id or an already revoked one is NOT_FOUND (no hint which)."""
    row = await api_token_rows.get_unrevoked_for_user(unit.session, token_id, viewer.user_id)
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such API token.", "id")
    row.revoked_at = unit.now()
    await unit.session.flush()
    await events.record(
        unit,
        type=EventType.API_TOKEN_REVOKED,
        subject_id=viewer.user_id,
        viewer=viewer,
        detail={"apiTokenId": row.id, "name": row.name},
    )
    return row
