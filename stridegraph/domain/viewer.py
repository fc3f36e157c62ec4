"""Who is asking: resolve a bearer token to a :class:`Viewer`.

The lookup is one SQL statement that only matches live credentials (unrevoked, unexpired),
and it runs on every request, so a revocation is honoured on the very next request on every
worker. ``last_used_at`` is written only when the stored value is more than
:data:`TOUCH_INTERVAL` old: a minute's precision is plenty for "last used", and it keeps the
common request at that one statement instead of adding a write to each. Even then the request
does not write it: it notes the use in the process's :class:`UsageRecorder`, which writes
batches out of band (``domain/usage.py``), so a request never needs a second connection.

The lookup reads only what a viewer needs: never the password hash or the MFA secret
(``db/models.py`` defers them and refuses to load them implicitly).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

from stridegraph.db import api_tokens as api_token_rows
from stridegraph.db import sessions as session_rows
from stridegraph.db.enums import AccessType
from stridegraph.db.models import User
from stridegraph.domain import tokens
from stridegraph.domain.errors import TOKEN_EXPIRED, TOKEN_INVALID, Unauthenticated
from stridegraph.domain.scopes import scopes_for
from stridegraph.domain.unit import Unit

TOUCH_INTERVAL = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Viewer:
    """A signed-in user and what this credential lets them do. ``signed_in_at`` is when a
    session's user last gave a password (and code): the session's creation, which refresh
    rotation does not move. None for an API token, which never counts as a recent sign-in."""

    user: User
    scopes: frozenset[str]
    session_id: int | None = None
    api_token_id: int | None = None
    signed_in_at: dt.datetime | None = None

    @property
    def user_id(self) -> int:
        return self.user.id

    @property
    def is_admin(self) -> bool:
        return self.user.access_type is AccessType.ADMIN

    def has(self, scope: str) -> bool:
        return scope in self.scopes


async def resolve_bearer(unit: Unit, *, token: str) -> Viewer:
    """The viewer for a session access token or personal API token, in one SQL statement
    (and, at most once a minute per credential, a note of its use for the usage recorder).

    Raises :class:`Unauthenticated` for anything that is not a live token of an active
    account: a bad token is an error, never a silent fall-back to anonymous. Its ``reason``
    tells a client whether refreshing can help (``TOKEN_EXPIRED``) or not (``TOKEN_INVALID``).

    Called directly, not through :meth:`Unit.run`: on PostgreSQL the lookup runs on a pooled
    connection of its own (``db/fast_read.py``), and only elsewhere takes the unit's session,
    under the unit's lock.
    """
    now = unit.now()
    if tokens.looks_like(token, tokens.ACCESS):
        found = await session_rows.find_active_by_access_hash(
            unit.engine, unit.with_session, tokens.digest(unit.settings.secret_key, token), now
        )
        user = _live_user(unit, found, now, unit.services.usage.session_used)
        if found is not None and user is not None:
            session = found[0]
            return Viewer(
                user=user,
                scopes=scopes_for(user.access_type),
                session_id=session.id,
                signed_in_at=session.created_at,
            )
    elif tokens.looks_like(token, tokens.PERSONAL):
        found = await api_token_rows.find_active_by_hash(
            unit.engine, unit.with_session, tokens.digest(unit.settings.secret_key, token), now
        )
        user = _live_user(unit, found, now, unit.services.usage.api_token_used)
        if found is not None and user is not None:
            granted = frozenset(found[0].scopes.split()) & scopes_for(user.access_type)
            return Viewer(user=user, scopes=granted, api_token_id=found[0].id)
    raise Unauthenticated(INVALID_TOKEN_MESSAGE, reason=await _failure_reason(unit, token, now))


def _live_user(
    unit: Unit,
    found: tuple[SimpleNamespace, User] | None,
    now: dt.datetime,
    note_use: Callable[[int, dt.datetime], None],
) -> User | None:
    """The found credential's user if the account is active, adopted into the unit; the
    credential's use is noted for the usage recorder at most once a minute. Sessions and API
    tokens differ only in the lookup before this and the viewer made after."""
    if found is None:
        return None
    credential, user = found
    if not user.active:
        return None
    unit.adopt(user)
    if _stale(credential.last_used_at, now):
        note_use(credential.id, now)
    return user


INVALID_TOKEN_MESSAGE = "The token is invalid, expired or revoked."


async def _failure_reason(unit: Unit, token: str, now: dt.datetime) -> str:
    """TOKEN_EXPIRED for a token whose only fault is its age and which the client can
    replace without the user (refresh the session; for an API token, make a new one);
    TOKEN_INVALID for anything else. One indexed read, only on this failure path."""
    digest = tokens.digest(unit.settings.secret_key, token)
    if tokens.looks_like(token, tokens.ACCESS):
        expired = await unit.with_session(session_rows.access_token_expired, digest, now)
    elif tokens.looks_like(token, tokens.PERSONAL):
        expired = await unit.with_session(api_token_rows.token_expired, digest, now)
    else:
        expired = False
    return TOKEN_EXPIRED if expired else TOKEN_INVALID


def _stale(last_used_at: dt.datetime | None, now: dt.datetime) -> bool:
    return last_used_at is None or now - last_used_at >= TOUCH_INTERVAL
