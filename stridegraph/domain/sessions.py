"""Login sessions: creation, rotation and revocation of access and refresh tokens."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from stridegraph.db import sessions as session_rows
from stridegraph.db.models import Session, User
from stridegraph.domain import tokens
from stridegraph.domain.unit import Unit


@dataclass(frozen=True)
class IssuedSession:
    """A session just created or rotated: the only moment the secrets exist in clear."""

    session: Session
    access_token: str
    refresh_token: str
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime


async def create_session(
    unit: Unit, *, user: User, user_agent: str | None = None, client_address: str | None = None
) -> IssuedSession:
    """Open a new session for ``user`` (after every login check has passed)."""
    now = unit.now()
    secret = unit.settings.secret_key
    access, access_hash = tokens.issue(secret, tokens.ACCESS)
    refresh, refresh_hash = tokens.issue(secret, tokens.REFRESH)
    row = Session(
        user_id=user.id,
        access_token_hash=access_hash,
        access_expires_at=now + dt.timedelta(seconds=unit.settings.access_token_ttl_seconds),
        refresh_token_hash=refresh_hash,
        refresh_expires_at=now + dt.timedelta(seconds=unit.settings.refresh_token_ttl_seconds),
        user_agent=(user_agent or "")[:512] or None,
        client_address=client_address,
        created_at=now,
        last_used_at=now,
    )
    session_rows.add(unit.session, row)
    await unit.session.flush()
    return IssuedSession(row, access, refresh, row.access_expires_at, row.refresh_expires_at)


async def revoke_user_sessions(
    unit: Unit, *, user_id: int, keep_session_id: int | None = None
) -> int:
    """End every session of a user, except ``keep_session_id`` when given (changePassword
    keeps the caller's own). Takes effect on the very next request: the viewer lookup only
    accepts unrevoked sessions."""
    return await session_rows.revoke_for_user(
        unit.session, user_id, unit.now(), keep_session_id=keep_session_id
    )
