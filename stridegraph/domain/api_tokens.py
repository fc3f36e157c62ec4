"""Personal API tokens for scripts: a recognisable ``sgp_`` prefix, shown once, stored as a
digest, scoped (never beyond what the owner's role allows), optionally expiring."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from stridegraph.db import api_tokens as api_token_rows
from stridegraph.db.models import ApiToken
from stridegraph.domain import tokens
from stridegraph.domain.errors import Collector, DomainError, ErrorCode
from stridegraph.domain.scopes import ALL_SCOPES, scopes_for
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


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A DateTime given without a zone is taken as UTC (the API's zone)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


async def create_api_token(
    unit: Unit,
    *,
    viewer: Viewer,
    name: str,
    scopes: Sequence[str],
    expires_at: dt.datetime | None = None,
) -> IssuedApiToken:
    """Create a token for the viewer. Scopes must be known, within the owner's role and
    within the credential making the request (a token cannot mint a stronger token)."""
    expires_at = _as_utc(expires_at)
    errors = Collector()
    if not name.strip():
        errors.add(ErrorCode.REQUIRED, "A token needs a name.", "name")
    elif len(name) > MAX_NAME:
        errors.add(ErrorCode.TOO_LONG, f"The name may have at most {MAX_NAME} characters.", "name")
    wanted = frozenset(scopes)
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
    elif not wanted <= viewer.scopes:
        errors.add(ErrorCode.SCOPE_NOT_ALLOWED, "A token cannot grant more than yours.", "scopes")
    if expires_at is not None and expires_at <= unit.now():
        errors.add(ErrorCode.OUT_OF_RANGE, "The expiry must be in the future.", "expires_at")
    errors.raise_if_any()
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
    return IssuedApiToken(row=row, token=token)


async def list_api_tokens(unit: Unit, *, viewer: Viewer) -> list[ApiToken]:
    """The viewer's unrevoked tokens, newest first (expired ones too, so they can be seen
    and cleaned up). Never the secret: only its digest is stored."""
    return await api_token_rows.list_for_user(unit.session, viewer.user_id)


async def revoke_api_token(unit: Unit, *, viewer: Viewer, token_id: int | None) -> ApiToken:
    """Revoke one of the viewer's own tokens; takes effect on the next request. Another
    user's token, an unknown id or an already revoked one is NOT_FOUND (no hint which)."""
    row = (
        await api_token_rows.get_unrevoked_for_user(unit.session, token_id, viewer.user_id)
        if token_id is not None
        else None
    )
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such API token.", "id")
    row.revoked_at = unit.now()
    await unit.session.flush()
    return row
