"""Security events: the user's security history and the administrators' audit log.

Every event is a row of ``security_events`` written by :func:`record` in the transaction of
the action it records, so a rolled-back action leaves no event and a committed one always has
its event. The one exception is a failed sign-in (and a lockout): the request answers with
an error, which rolls it back, so :func:`record_failure` writes it in a short transaction of
its own, the way the rate limiter records the failed attempt itself.

A row holds when, what (:class:`EventType`), who did it (actor), to whom (subject), from
where (the client address per the proxy rules, and a user-agent *summary* parsed with
``ua-parser``, never the raw header), with which session, and a small JSON ``detail``. It
never holds a secret, token, code or password: :func:`record` refuses detail keys that look
like one, and callers only pass ids, names and reasons. A failed sign-in for an identifier
that names no account links no account and records nothing of what was typed.

Passkeys (``domain/passkeys.py``) and identity providers (``domain/identity.py``,
``domain/identity_providers.py``) record their events through :func:`record` and
:func:`record_failure` too, with the methods ``PASSKEY`` and ``PROVIDER``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import enum
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db import security_events as event_rows
from stridegraph.db.models import SecurityEvent
from stridegraph.domain.access import require
from stridegraph.domain.errors import DomainError, ErrorCode
from stridegraph.domain.keys import MAX_ROW_ID
from stridegraph.domain.ratelimit import side_transaction
from stridegraph.domain.scopes import PROFILE_READ, USERS_READ
from stridegraph.domain.unit import Origin, Unit
from stridegraph.domain.viewer import Viewer

log = logging.getLogger("stridegraph.security_events")


class EventType(enum.Enum):
    """What happened. Types starting with ``ADMIN_`` are administrators' actions on
    another account (actor: the administrator, subject: the account). Like
    ``SERVER_SETTINGS_CHANGED``, ``IDENTITY_PROVIDER_*`` are administrators' actions on
    the server itself: they have an actor and no subject."""

    SIGN_IN_SUCCEEDED = "SIGN_IN_SUCCEEDED"
    SIGN_IN_FAILED = "SIGN_IN_FAILED"
    LOCKOUT = "LOCKOUT"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    PASSWORD_RESET = "PASSWORD_RESET"
    EMAIL_CHANGE_REQUESTED = "EMAIL_CHANGE_REQUESTED"
    EMAIL_CHANGE_CONFIRMED = "EMAIL_CHANGE_CONFIRMED"
    MFA_ENABLED = "MFA_ENABLED"
    MFA_DISABLED = "MFA_DISABLED"
    BACKUP_CODE_USED = "BACKUP_CODE_USED"
    BACKUP_CODES_REGENERATED = "BACKUP_CODES_REGENERATED"
    SESSION_REVOKED = "SESSION_REVOKED"
    API_TOKEN_CREATED = "API_TOKEN_CREATED"
    API_TOKEN_REVOKED = "API_TOKEN_REVOKED"
    PASSKEY_ADDED = "PASSKEY_ADDED"
    PASSKEY_REMOVED = "PASSKEY_REMOVED"
    IDENTITY_LINKED = "IDENTITY_LINKED"
    IDENTITY_UNLINKED = "IDENTITY_UNLINKED"
    PROFILE_UPDATED = "PROFILE_UPDATED"
    PRIVACY_SETTINGS_CHANGED = "PRIVACY_SETTINGS_CHANGED"
    NOTIFICATION_SETTINGS_CHANGED = "NOTIFICATION_SETTINGS_CHANGED"
    DATA_EXPORT_REQUESTED = "DATA_EXPORT_REQUESTED"
    SERVER_SETTINGS_CHANGED = "SERVER_SETTINGS_CHANGED"
    ADMIN_USER_CREATED = "ADMIN_USER_CREATED"
    ADMIN_USER_UPDATED = "ADMIN_USER_UPDATED"
    ADMIN_USER_APPROVED = "ADMIN_USER_APPROVED"
    ADMIN_USER_DELETED = "ADMIN_USER_DELETED"
    ADMIN_PASSWORD_SET = "ADMIN_PASSWORD_SET"
    ADMIN_PASSWORD_RESET_SENT = "ADMIN_PASSWORD_RESET_SENT"
    ADMIN_MFA_RESET = "ADMIN_MFA_RESET"
    ADMIN_SESSIONS_REVOKED = "ADMIN_SESSIONS_REVOKED"
    ADMIN_API_TOKENS_REVOKED = "ADMIN_API_TOKENS_REVOKED"
    ADMIN_PHOTO_DELETED = "ADMIN_PHOTO_DELETED"
    ADMIN_PASSKEYS_REVOKED = "ADMIN_PASSKEYS_REVOKED"
    ADMIN_IDENTITY_REMOVED = "ADMIN_IDENTITY_REMOVED"
    IDENTITY_PROVIDER_CREATED = "IDENTITY_PROVIDER_CREATED"
    IDENTITY_PROVIDER_UPDATED = "IDENTITY_PROVIDER_UPDATED"
    IDENTITY_PROVIDER_DELETED = "IDENTITY_PROVIDER_DELETED"


class SignInMethod(enum.Enum):
    """How a sign-in was (or was tried to be) made: ``detail.method`` of sign-in events."""

    PASSWORD = "PASSWORD"
    MFA = "MFA"
    PASSKEY = "PASSKEY"
    PROVIDER = "PROVIDER"


#: Detail keys ending so could carry a secret: refused outright (a programming error).
#: ``apiTokenId`` or ``sessionId`` name a row, and are fine.
FORBIDDEN_DETAIL_WORDS = (
    "password",
    "token",
    "secret",
    "code",
    "codes",
    "credential",
    "hash",
    "key",
)
#: Detail values are scalars; strings are cut to this length.
MAX_DETAIL_TEXT = 200
MAX_USER_AGENT_SUMMARY = 200
MAX_ADDRESS = 64


@functools.lru_cache(maxsize=1024)
def _summary(header: str) -> str | None:
    # ua-parser (with PyYAML, about 2 MB) on first use, not at start-up: most requests
    # record no event (tests/test_startup_memory.py)
    from ua_parser import parse as parse_user_agent

    parsed = parse_user_agent(header)
    parts: list[str] = []
    if parsed.user_agent is not None:
        version = parsed.user_agent.major
        parts.append(parsed.user_agent.family + (f" {version}" if version else ""))
    if parsed.os is not None and parsed.os.family != "Other":
        version = parsed.os.major
        parts.append("on " + parsed.os.family + (f" {version}" if version else ""))
    if parsed.device is not None and parsed.device.family not in ("Other", "Spider"):
        parts.append(f"({parsed.device.family})")
    text = " ".join(parts)
    return text[:MAX_USER_AGENT_SUMMARY] or None


async def user_agent_summary(header: str | None) -> str | None:
    """ "Firefox 121 on Ubuntu", "Mobile Safari 17 on iOS 17 (iPhone)": what a person
    recognises, nothing more (no build numbers to fingerprint with). Parsed off the event
    loop (the first parse compiles the rules); None for no header or an unknown agent."""
    if not header or not header.strip():
        return None
    try:
        return await asyncio.to_thread(_summary, header[:1024])
    except Exception:  # a parser bug must never fail the action being recorded
        log.warning("user agent not parsed")
        return None


def _clean_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in (detail or {}).items():
        lowered = key.lower()
        if lowered.endswith(FORBIDDEN_DETAIL_WORDS):
            raise ValueError(f"security event detail {key!r} could hold a secret")
        if isinstance(value, enum.Enum):
            value = value.value
        if isinstance(value, str):
            value = value[:MAX_DETAIL_TEXT]
        elif isinstance(value, list | tuple):
            value = [
                str(v.value if isinstance(v, enum.Enum) else v)[:MAX_DETAIL_TEXT] for v in value
            ]
        elif not (value is None or isinstance(value, bool | int | float)):
            raise ValueError(f"security event detail {key!r} is not a scalar")
        cleaned[key] = value
    return cleaned


async def record(
    unit: Unit,
    *,
    type: EventType,
    subject_id: int | None,
    viewer: Viewer | None = None,
    actor_id: int | None = None,
    session_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    session: AsyncSession | None = None,
) -> None:
    """Record one event in the caller's transaction (``unit.session``, or ``session`` when
    the caller writes in another one). The actor and session default to the viewer's; the
    client address and user agent come from the request (``unit.origin``).

    This is the one entry point for every capability: e.g. passkeys call
    ``record(unit, type=EventType.PASSKEY_ADDED, subject_id=user.id, viewer=viewer,
    detail={"passkeyId": row.id, "name": row.name})``."""
    origin = unit.origin or Origin()
    if viewer is not None:
        actor_id = viewer.user_id if actor_id is None else actor_id
        session_id = viewer.session_id if session_id is None else session_id
    event_rows.add(
        session or unit.session,
        at=unit.now(),
        type=type.value,
        actor_id=actor_id,
        subject_id=subject_id,
        session_id=session_id,
        client_address=(origin.client_address or "")[:MAX_ADDRESS] or None,
        user_agent=await user_agent_summary(origin.user_agent),
        detail=_clean_detail(detail),
    )


async def record_failure(
    unit: Unit,
    *,
    error: DomainError,
    method: SignInMethod,
    user_id: int | None,
) -> None:
    """A sign-in that failed with ``error``: SIGN_IN_FAILED, or LOCKOUT when the rate
    limits refused it, written in a transaction of its own (the request rolls back).

    ``user_id`` is the account the attempt named, None when it named none: the event then
    links no account and records nothing of the identifier (it could be a mistyped
    password). The request's own transaction is rolled back first (it is about to be
    anyway), so on SQLite the side transaction is never queued behind its write lock."""
    codes = {p.code for p in error.problems}
    locked = ErrorCode.TOO_MANY_ATTEMPTS in codes
    reason = next(iter(sorted(c.value for c in codes)), "INVALID")
    await unit.rollback()
    try:
        async with side_transaction(unit) as session:
            if locked and await _lockout_recorded(unit, session, user_id):
                return
            await record(
                unit,
                type=EventType.LOCKOUT if locked else EventType.SIGN_IN_FAILED,
                subject_id=user_id,
                actor_id=user_id,
                detail={"method": method, "reason": reason},
                session=session,
            )
    except Exception:  # the answer is decided; a lost failure record must not change it
        log.warning("failed sign-in not recorded", exc_info=True)


@dataclass
class SignInFailures:
    """``async with SignInFailures(unit, method, user_id):`` around a sign-in step: a
    DomainError leaving the block is recorded by :func:`record_failure` and goes on. Every
    way of signing in (password, MFA code, provider, passkey) wraps its step in one, so a
    refusal is recorded the same way whichever it was. ``user_id`` is the account the
    attempt named; a step that learns it only on the way sets it on the value ``as`` gives.
    """

    unit: Unit
    method: SignInMethod
    user_id: int | None = None

    async def __aenter__(self) -> SignInFailures:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: Any
    ) -> None:
        if isinstance(error, DomainError):
            await record_failure(self.unit, error=error, method=self.method, user_id=self.user_id)


async def _lockout_recorded(unit: Unit, session: AsyncSession, user_id: int | None) -> bool:
    """One LOCKOUT per account (or, for no account, per address) per rate-limit window:
    hammering a locked account is refused without a row of its own, so it must not grow the
    history one row per request either."""
    origin = unit.origin or Origin()
    window = dt.timedelta(seconds=unit.settings.login_window_seconds)
    return await event_rows.recent(
        session,
        type=EventType.LOCKOUT.value,
        subject_id=user_id,
        client_address=(origin.client_address or "")[:MAX_ADDRESS] or None,
        since=unit.now() - window,
    )


#: Sign-ins that count as "seen" for the new-device rule.
SIGN_IN_TYPES = (EventType.SIGN_IN_SUCCEEDED.value,)


async def is_new_device(unit: Unit, *, user_id: int, since: dt.datetime) -> bool:
    """The new-device rule (README, "Security history"): a successful sign-in is from a new
    device or address when the account has signed in before within the retention period,
    but never with this user-agent summary from this client address. The very first
    sign-in of an account is not "new": there is nothing to compare with, and the owner
    just created it. Call it before recording the sign-in itself."""
    origin = unit.origin or Origin()
    any_before, same = await event_rows.seen_before(
        unit.session,
        subject_id=user_id,
        types=SIGN_IN_TYPES,
        client_address=(origin.client_address or "")[:MAX_ADDRESS] or None,
        user_agent=await user_agent_summary(origin.user_agent),
        since=since,
    )
    return any_before and not same


# --------------------------------------------------------------------------- reading

DEFAULT_PAGE = 20
MAX_PAGE = 100


@dataclass(frozen=True)
class Wanted:
    """A listing's filter as the API gives it (actor and subject for the audit log only)."""

    types: tuple[EventType, ...] | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    actor_id: int | None = None
    subject_id: int | None = None


@dataclass(frozen=True)
class Edge:
    cursor: str
    event: SecurityEvent


@dataclass(frozen=True)
class Page:
    edges: list[Edge]
    has_next_page: bool


def _bad(message: str, field: str) -> DomainError:
    return DomainError.of(ErrorCode.INVALID, message, field)


def encode_cursor(event: SecurityEvent) -> str:
    raw = json.dumps([event.at.isoformat(), event.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> event_rows.Position:
    """The position a cursor names; INVALID for anything that is not one of ours."""
    try:
        if len(cursor) > 200:
            raise ValueError(cursor)
        padded = cursor + "=" * (-len(cursor) % 4)
        at, event_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(event_id, int) or isinstance(event_id, bool):
            raise ValueError(event_id)
        if not 0 < event_id <= MAX_ROW_ID or not isinstance(at, str):
            raise ValueError(event_id)
        moment = dt.datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError(at)
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error):
        raise _bad("after is not a cursor of this listing.", "after") from None
    return event_rows.Position(at=moment.astimezone(dt.UTC), id=event_id)


def _page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 0 <= first <= MAX_PAGE:
        raise DomainError.of(
            ErrorCode.OUT_OF_RANGE, f"first must be between 0 and {MAX_PAGE}.", "first"
        )
    return first


async def _page(
    unit: Unit, spec: event_rows.EventFilter, *, first: int | None, after: str | None
) -> Page:
    size = _page_size(first)
    position = decode_cursor(after) if after is not None else None
    rows = await event_rows.list_events(unit.session, spec, after=position, limit=size + 1)
    return Page(
        edges=[Edge(cursor=encode_cursor(row), event=row) for row in rows[:size]],
        has_next_page=len(rows) > size,
    )


def _spec(wanted: Wanted | None, **fixed: int) -> event_rows.EventFilter:
    wanted = wanted or Wanted()
    return event_rows.EventFilter(
        subject_id=fixed.get("subject_id", wanted.subject_id),
        actor_id=wanted.actor_id,
        types=tuple(t.value for t in wanted.types) if wanted.types else None,
        since=wanted.since,
        until=wanted.until,
    )


async def my_security_events(
    unit: Unit,
    *,
    viewer: Viewer | None,
    filter: Wanted | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page:
    """The viewer's own history (events whose subject is the viewer), newest first."""
    me = require(viewer, scope=PROFILE_READ)
    return await _page(unit, _spec(filter, subject_id=me.user_id), first=first, after=after)


async def audit_events(
    unit: Unit,
    *,
    viewer: Viewer | None,
    filter: Wanted | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page:
    """Every event, newest first, for administrators with ``users:read``."""
    require(viewer, scope=USERS_READ, admin=True)
    return await _page(unit, _spec(filter), first=first, after=after)
