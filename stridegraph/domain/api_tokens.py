"""Personal API tokens for scripts: a recognisable ``sgp_`` prefix, shown once, stored as a
digest, scoped (never beyond what the owner's role allows), optionally expiring."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from stridegraph.db.models import ApiToken
from stridegraph.domain import tokens
from stridegraph.domain.errors import Collector, ErrorCode
from stridegraph.domain.scopes import ALL_SCOPES, scopes_for
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer

MAX_NAME = 100


@dataclass(frozen=True)
class IssuedApiToken:
    row: ApiToken
    token: str


def parse_scopes(raw: str) -> frozenset[str]:
    return frozenset(s for s in raw.split() if s)


async def create_api_token(
    unit: Unit,
    *,
    viewer: Viewer,
    name: str,
    scopes: Sequence[str],
    expires_at: dt.datetime | None = None,
) -> IssuedApiToken:
    """Create a token for the viewer. Scopes must be known and within the owner's role."""
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
        token_prefix=token[:12],
        token_hash=digest,
        scopes=" ".join(s for s in ALL_SCOPES if s in wanted),
        created_at=unit.now(),
        expires_at=expires_at,
    )
    unit.session.add(row)
    await unit.session.flush()
    return IssuedApiToken(row=row, token=token)
