"""Ending a user's credentials together: sessions and personal API tokens.

A password reset, an administrator setting the password or ending the sessions, and a
deactivation all say the account may be in the wrong hands, so they end both kinds: an API
token is as good as a session to whoever holds it. Revocation is final (``revoked_at`` is
set), so reactivating an account brings none of them back. Takes effect on the very next
request: the viewer lookup only accepts unrevoked credentials.
"""

from __future__ import annotations

from dataclasses import dataclass

from stridegraph.db import api_tokens as api_token_rows
from stridegraph.domain import sessions
from stridegraph.domain.unit import Unit


@dataclass(frozen=True)
class Ended:
    """How many credentials were revoked."""

    sessions: int
    api_tokens: int


async def end_all(
    unit: Unit,
    *,
    user_id: int,
    keep_session_id: int | None = None,
    api_tokens: bool = True,
) -> Ended:
    """Revoke every session of a user (except ``keep_session_id``: ``changePassword`` keeps
    the caller's own) and, unless ``api_tokens`` is False, every API token."""
    ended = await sessions.revoke_user_sessions(
        unit, user_id=user_id, keep_session_id=keep_session_id
    )
    tokens = (
        await api_token_rows.revoke_for_user(unit.session, user_id, unit.now()) if api_tokens else 0
    )
    return Ended(sessions=ended, api_tokens=tokens)
