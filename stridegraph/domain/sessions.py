"""Login sessions: creation, rotation and revocation of access and refresh tokens.

A session is one rotation family: ``refreshSession`` swaps in a new access and refresh token
and remembers the old refresh token's digest; presenting a remembered one again means it was
copied, so the whole session is revoked. Revocation takes effect on the very next request on
every worker, because the viewer lookup only accepts unrevoked, unexpired sessions and reads
the database every time (no cache to go stale).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from stridegraph.db import sessions as session_rows
from stridegraph.db.models import Session, User
from stridegraph.domain import security_events as events
from stridegraph.domain import tokens
from stridegraph.domain.errors import DomainError, ErrorCode
from stridegraph.domain.ratelimit import side_transaction
from stridegraph.domain.security_events import EventType
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer

log = logging.getLogger("stridegraph.sessions")


@dataclass(frozen=True)
class IssuedSession:
    """A session just created or rotated: the only moment the secrets exist in clear."""

    session: Session
    access_token: str
    refresh_token: str
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime


def invalid_token() -> DomainError:
    return DomainError.of(
        ErrorCode.INVALID_TOKEN, "The token is invalid, expired or revoked.", "refresh_token"
    )


def _expiries(unit: Unit, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    settings = unit.settings
    return (
        now + dt.timedelta(seconds=settings.access_token_ttl_seconds),
        now + dt.timedelta(seconds=settings.refresh_token_ttl_seconds),
    )


async def create_session(
    unit: Unit, *, user: User, user_agent: str | None = None, client_address: str | None = None
) -> IssuedSession:
    """Open a new session for ``user`` (after every login check has passed)."""
    now = unit.now()
    secret = unit.settings.secret_key
    access, access_hash = tokens.issue(secret, tokens.ACCESS)
    refresh, refresh_hash = tokens.issue(secret, tokens.REFRESH)
    access_expires, refresh_expires = _expiries(unit, now)
    row = Session(
        user_id=user.id,
        access_token_hash=access_hash,
        access_expires_at=access_expires,
        refresh_token_hash=refresh_hash,
        refresh_expires_at=refresh_expires,
        generation=0,
        user_agent=(user_agent or "")[:512] or None,
        client_address=(client_address or "")[:64] or None,
        created_at=now,
        last_used_at=now,
    )
    session_rows.add(unit.session, row)
    await unit.session.flush()
    return IssuedSession(row, access, refresh, access_expires, refresh_expires)


async def refresh_session(unit: Unit, *, refresh_token: str) -> IssuedSession:
    """Exchange a refresh token for a new access and refresh token (rotation).

    The new refresh token lives ``REFRESH_TOKEN_TTL`` from now (a session stays open while it
    is used at least that often). Of concurrent refreshes with the same token exactly one
    wins (the rotation is a compare-and-swap on the current token) and the others are merely
    refused, since two tabs racing is likelier than theft at that instant. A rotated token
    presented again revokes the session, unless this request began within
    ``REFRESH_REUSE_GRACE`` of the rotation: such a request raced the winner but reached the
    database after the winner had committed, so it finds the token rotated, yet it is a loser
    of the race, not a replay.
    """
    presented_at = unit.now()  # before any database work: when the request began
    if not tokens.looks_like(refresh_token, tokens.REFRESH):
        raise invalid_token()
    digest = tokens.digest(unit.settings.secret_key, refresh_token)
    found = await session_rows.find_by_refresh_hash(unit.session, digest)
    if found is None:
        await _revoke_if_replayed(unit, digest, presented_at)
        raise invalid_token()
    row, user = found
    if row.revoked_at is not None or row.refresh_expires_at <= presented_at or not user.active:
        raise invalid_token()
    issued = await _rotate(unit, row.id, digest, presented_at)
    if issued is None:  # a concurrent refresh rotated it first: a loser, refused
        raise invalid_token()
    return issued


async def _rotate(
    unit: Unit, session_id: int, old_digest: bytes, now: dt.datetime
) -> IssuedSession | None:
    """Swap in new tokens if the session still holds ``old_digest``; None if another
    refresh got there first. The compare-and-swap UPDATE decides the race on both
    databases: PostgreSQL re-checks the condition after the row lock, SQLite has one
    writer at a time."""
    secret = unit.settings.secret_key
    access, access_hash = tokens.issue(secret, tokens.ACCESS)
    refresh, refresh_hash = tokens.issue(secret, tokens.REFRESH)
    access_expires, refresh_expires = _expiries(unit, now)
    swapped = await session_rows.rotate(
        unit.session,
        session_id,
        old_refresh_hash=old_digest,
        access_hash=access_hash,
        access_expires_at=access_expires,
        refresh_hash=refresh_hash,
        refresh_expires_at=refresh_expires,
        now=now,
    )
    if not swapped:
        return None
    session_rows.add_rotated(unit.session, old_digest, session_id, now)
    await unit.session.flush()
    fresh = await session_rows.get(unit.session, session_id)
    assert fresh is not None
    return IssuedSession(fresh, access, refresh, access_expires, refresh_expires)


async def _revoke_if_replayed(unit: Unit, digest: bytes, presented_at: dt.datetime) -> None:
    """A refresh token that was already exchanged is presented again. Within the reuse
    grace of its rotation this request raced the winner (refused, nothing else); later,
    someone holds a copy: revoke its session in a transaction of its own, since the answer
    (INVALID_TOKEN) rolls the request back."""
    rotated = await session_rows.find_rotated(unit.session, digest)
    if rotated is None:
        return
    grace = dt.timedelta(seconds=unit.settings.refresh_reuse_grace_seconds)
    if presented_at - rotated.rotated_at <= grace:
        log.info(
            "rotated refresh token presented within the reuse grace; refused",
            extra={"session_id": rotated.session_id},
        )
        return
    async with side_transaction(unit) as session:
        await session_rows.revoke(session, rotated.session_id, unit.now())
        revoked = await session_rows.get(session, rotated.session_id)
        if revoked is not None:
            await events.record(
                unit,
                type=EventType.SESSION_REVOKED,
                subject_id=revoked.user_id,
                session_id=revoked.id,
                detail={"sessionId": revoked.id, "reason": "REFRESH_TOKEN_REUSED"},
                session=session,
            )
    log.warning(
        "rotated refresh token reused; session revoked", extra={"session_id": rotated.session_id}
    )


async def logout(unit: Unit, *, viewer: Viewer) -> None:
    """End the session the request was made with. A personal API token is not a session:
    it is refused (revoke it with ``revokeApiToken``) rather than silently doing nothing."""
    if viewer.session_id is None:
        raise DomainError.of(
            ErrorCode.INVALID,
            "This request is authenticated by an API token, not a session; "
            "use revokeApiToken to end it.",
        )
    await session_rows.revoke(unit.session, viewer.session_id, unit.now(), user_id=viewer.user_id)
    await events.record(
        unit,
        type=EventType.SESSION_REVOKED,
        subject_id=viewer.user_id,
        viewer=viewer,
        detail={"sessionId": viewer.session_id, "reason": "LOGOUT"},
    )


async def list_sessions(unit: Unit, *, viewer: Viewer) -> list[Session]:
    """The viewer's sessions that can still be used or refreshed, most recently used first."""
    return await session_rows.list_live_for_user(unit.session, viewer.user_id, unit.now())


async def revoke_session(unit: Unit, *, viewer: Viewer, session_id: int) -> Session:
    """Revoke one of the viewer's own sessions (the current one too: that is a logout).
    Another user's session, an unknown id or an already revoked one is NOT_FOUND."""
    if not await session_rows.revoke(unit.session, session_id, unit.now(), user_id=viewer.user_id):
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such session.", "id")
    row = await session_rows.get(unit.session, session_id)
    assert row is not None
    await events.record(
        unit,
        type=EventType.SESSION_REVOKED,
        subject_id=viewer.user_id,
        viewer=viewer,
        detail={"sessionId": session_id, "reason": "REVOKED"},
    )
    return row


async def revoke_user_sessions(
    unit: Unit, *, user_id: int, keep_session_id: int | None = None
) -> int:
    """End every session of a user, except ``keep_session_id`` when given (changePassword
    keeps the caller's own). Takes effect on the very next request: the viewer lookup only
    accepts unrevoked sessions."""
    return await session_rows.revoke_for_user(
        unit.session, user_id, unit.now(), keep_session_id=keep_session_id
    )


async def end_session_by_refresh_token(unit: Unit, *, refresh_token: str) -> None:
    """End the session a current refresh token belongs to (a browser signing out with its
    session cookie, perhaps after its access token expired)."""
    if not tokens.looks_like(refresh_token, tokens.REFRESH):
        raise invalid_token()
    found = await session_rows.find_by_refresh_hash(
        unit.session, tokens.digest(unit.settings.secret_key, refresh_token)
    )
    if found is None or found[0].revoked_at is not None:
        raise invalid_token()
    await session_rows.revoke(unit.session, found[0].id, unit.now())
    await events.record(
        unit,
        type=EventType.SESSION_REVOKED,
        subject_id=found[1].id,
        actor_id=found[1].id,
        session_id=found[0].id,
        detail={"sessionId": found[0].id, "reason": "LOGOUT"},
    )
