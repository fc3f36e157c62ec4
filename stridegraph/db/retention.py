"""SQL for the retention purge: which rows of each table are dead, and deleting them in
small batches.

A :class:`PurgeRule` names a table, its primary key and the condition that makes a row dead;
the policy (``domain/retention.py``) builds the list from the configured periods. Deleting
is always by primary key from a bounded subquery (``DELETE … WHERE key IN (SELECT key …
LIMIT n)``) so one statement never locks more than ``n`` rows and each batch is its own
short transaction. On PostgreSQL the subquery skips rows another transaction has locked
(``FOR UPDATE SKIP LOCKED``): a row being used right now is simply left for the next round.

One replica at a time: :func:`try_lock` takes a *transaction-scoped* advisory lock, held by
the round's guard transaction until it ends. Transaction scope is what keeps it correct
behind PgBouncer in transaction mode, where a session-level lock would stay on whichever
server connection happened to run it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Table,
    TableClause,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.enums import TokenPurpose
from stridegraph.db.models import (
    ApiToken,
    Base,
    LoginAttempt,
    OAuthState,
    OneTimeToken,
    OutboxMail,
    PasskeyChallenge,
    RotatedRefreshToken,
    SecurityEvent,
    Session,
)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


#: The advisory lock key every replica's purge competes for ("sgpurge" as ASCII, as an int).
PURGE_LOCK_KEY = 0x73677075726765


@dataclass(frozen=True)
class PurgeRule:
    """Rows of ``table`` (named ``name`` in counts and metrics) for which ``dead`` holds,
    deleted by its primary key column ``key``."""

    name: str
    target: TableClause
    key: str
    dead: ColumnElement[bool]


def _session_dead(cutoff: dt.datetime) -> ColumnElement[bool]:
    return or_(Session.revoked_at < cutoff, Session.refresh_expires_at < cutoff)


def rotated_refresh_tokens(*, cutoff: dt.datetime, rotated_before: dt.datetime) -> PurgeRule:
    """The refresh chain: rotated tokens of sessions that are themselves due for purging
    (deleted first, so a session's delete never cascades to thousands of rows in one
    statement), and of live sessions once the rotated token has expired anyway
    (``rotated_before`` = now - refresh TTL - grace: the token was issued before it was
    rotated, so it can no longer refresh; its replay would only be refused)."""
    dead_sessions = select(Session.id).where(_session_dead(cutoff))
    return PurgeRule(
        name="rotated_refresh_tokens",
        target=_table(RotatedRefreshToken),
        key="token_hash",
        dead=or_(
            RotatedRefreshToken.session_id.in_(dead_sessions),
            RotatedRefreshToken.rotated_at < rotated_before,
        ),
    )


def sessions(*, cutoff: dt.datetime) -> PurgeRule:
    """Sessions revoked, or whose refresh token expired, before ``cutoff``."""
    return PurgeRule(name="sessions", target=_table(Session), key="id", dead=_session_dead(cutoff))


def _token_spent(cutoff: dt.datetime) -> ColumnElement[bool]:
    return or_(OneTimeToken.used_at < cutoff, OneTimeToken.expires_at < cutoff)


def one_time_tokens(*, cutoff: dt.datetime) -> PurgeRule:
    """Mailed-link tokens (verification, reset, set-password, e-mail change) used or expired
    before ``cutoff``."""
    return PurgeRule(
        name="one_time_tokens",
        target=_table(OneTimeToken),
        key="id",
        dead=(OneTimeToken.purpose != TokenPurpose.MFA_LOGIN) & _token_spent(cutoff),
    )


def mfa_challenges(*, cutoff: dt.datetime) -> PurgeRule:
    """MFA-login challenges (one-time tokens of purpose ``mfa_login``) used or expired
    before ``cutoff``."""
    return PurgeRule(
        name="mfa_challenges",
        target=_table(OneTimeToken),
        key="id",
        dead=(OneTimeToken.purpose == TokenPurpose.MFA_LOGIN) & _token_spent(cutoff),
    )


def login_attempts(*, before: dt.datetime) -> PurgeRule:
    """Attempts made before ``before`` (which the policy never sets inside a window the
    limits still read)."""
    return PurgeRule(
        name="login_attempts",
        target=_table(LoginAttempt),
        key="id",
        dead=LoginAttempt.created_at < before,
    )


def api_tokens(*, cutoff: dt.datetime) -> PurgeRule:
    """Personal API tokens revoked or expired before ``cutoff`` (they authenticate nothing,
    and the token listings never show them)."""
    return PurgeRule(
        name="api_tokens",
        target=_table(ApiToken),
        key="id",
        dead=or_(ApiToken.revoked_at < cutoff, ApiToken.expires_at < cutoff),
    )


def outbox_sent(*, cutoff: dt.datetime) -> PurgeRule:
    """Delivered mail (``state = 'sent'``) sent before ``cutoff``. Queued, sending and
    failed rows stay whatever their age: an operator still has to see what never left."""
    return PurgeRule(
        name="outbox",
        target=_table(OutboxMail),
        key="id",
        dead=(OutboxMail.state == "sent") & (OutboxMail.sent_at < cutoff),
    )


async def try_lock(session: AsyncSession) -> bool:
    """Take the purge's advisory lock for the rest of ``session``'s transaction, without
    waiting: False when another replica holds it. SQLite has one writer at a time and its
    batches are idempotent, so concurrent purges there only queue: always True."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(PURGE_LOCK_KEY))))


async def delete_batch(session: AsyncSession, rule: PurgeRule, limit: int) -> int:
    """Delete at most ``limit`` dead rows of ``rule`` in one statement; returns how many."""
    key = rule.target.c[rule.key]
    victims = select(key).select_from(rule.target).where(rule.dead).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        victims = victims.with_for_update(skip_locked=True)
    result = await session.execute(
        delete(rule.target)
        .where(key.in_(victims.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def security_events(*, cutoff: dt.datetime) -> PurgeRule:
    """Security events older than ``cutoff`` (``RETENTION_SECURITY_EVENTS``, a year by
    default)."""
    return PurgeRule(
        name="security_events",
        target=_table(SecurityEvent),
        key="id",
        dead=SecurityEvent.at < cutoff,
    )


def oauth_states(*, now: dt.datetime) -> PurgeRule:
    """Started external sign-ins and links (``oauth_states``) that expired or were used:
    a state is good for ten minutes and once. Starting a new one drops them too, but a
    server nobody starts one on would keep the last ones (and their users' ids) forever."""
    return PurgeRule(
        name="oauth_states",
        target=_table(OAuthState),
        key="id",
        dead=or_(OAuthState.expires_at <= now, OAuthState.used_at.is_not(None)),
    )


def passkey_challenges(*, now: dt.datetime) -> PurgeRule:
    """WebAuthn ceremonies (``passkey_challenges``) that expired or were used (five
    minutes, single use); the same reasoning as :func:`oauth_states`."""
    return PurgeRule(
        name="passkey_challenges",
        target=_table(PasskeyChallenge),
        key="id",
        dead=or_(PasskeyChallenge.expires_at <= now, PasskeyChallenge.used_at.is_not(None)),
    )
