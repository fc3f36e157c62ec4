"""Rate limits on password (and MFA code) guesses, per account and per client address.

The attempts live in the ``login_attempts`` table so every worker and every restart sees the
same counts. An attempt is *reserved* before the secret is checked: the row is committed
first, then the limits are counted including every other reservation. Counting after
committing means concurrent guesses see each other, so a burst of parallel requests cannot
slip more than the limit past the check (check-then-record would let every request of the
burst through). A refused attempt removes its own row, so hammering a locked account does
not extend the lock; a correct secret clears the account's rows ("a success resets the
account's count"); a wrong one simply leaves its row, which is the recorded failure.

These writes run in their own short transaction (:func:`side_transaction`) because they
must survive the request's rollback: a failed login answers with an error, and errors roll
the request back. Call :func:`begin_attempt` before the request writes anything of its own
(on SQLite a second writer would wait for the first).

Usage (login, changePassword, MFA codes)::

    attempt = await ratelimit.begin_attempt(unit, account_key=key, client_address=address)
    if not secret_is_right:
        raise ...  # the reserved row stays: one recorded failure
    await ratelimit.succeeded(unit, attempt=attempt)
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db import login_attempts as attempt_rows
from stridegraph.db.keys import email_key
from stridegraph.db.models import User
from stridegraph.domain.errors import DomainError, ErrorCode, Problem
from stridegraph.domain.unit import Unit

MAX_KEY = 250
MAX_ADDRESS = 64


@dataclass(frozen=True)
class Attempt:
    """A reserved attempt: its row id and the account key it counts against."""

    id: int
    account_key: str


def user_key(user: User) -> str:
    """The key an existing account's attempts count against: the account itself, so guesses
    by username and by e-mail address (in any case or Unicode form) share one count, and
    renaming the account does not reset it."""
    return f"#{user.id}"


def account_key(identifier: str) -> str:
    """The key for an identifier that names no account: its normalised form (an address by
    its e-mail key, a username lower-cased). Keys of accounts (``#id``) and of identifiers
    (``?…``) never collide, whatever is typed.

    Unknown identifiers are limited exactly like accounts (same count, same answer), so the
    limits reveal nothing about which accounts exist."""
    typed = identifier.strip()
    normal = email_key(typed) if "@" in typed else typed.lower()
    return f"?{normal}"[:MAX_KEY]


@asynccontextmanager
async def side_transaction(unit: Unit) -> AsyncIterator[AsyncSession]:
    """A separate transaction, committed at once, for security bookkeeping that must outlive
    the request's own transaction (which an error answer rolls back)."""
    async with unit.services.sessions() as session, session.begin():
        yield session


async def begin_attempt(unit: Unit, *, account_key: str, client_address: str) -> Attempt:
    """Reserve one attempt, or raise TOO_MANY_ATTEMPTS (with the retry delay) when the
    account or the client address has used up its failures for the window."""
    settings = unit.settings
    now = unit.now()
    since = now - dt.timedelta(seconds=settings.login_window_seconds)
    key = account_key[:MAX_KEY]
    address = (client_address or "unknown")[:MAX_ADDRESS]
    async with side_transaction(unit) as session:
        await attempt_rows.purge_before(session, since)
        attempt_id = await attempt_rows.add(
            session, account_key=key, client_address=address, now=now
        )
    async with unit.services.sessions() as session:
        by_account = await attempt_rows.nth_latest(
            session,
            since=since,
            n=settings.login_max_failures_account,
            exclude_id=attempt_id,
            account_key=key,
        )
        by_address = await attempt_rows.nth_latest(
            session,
            since=since,
            n=settings.login_max_failures_address,
            exclude_id=attempt_id,
            client_address=address,
        )
    blocking = [t for t in (by_account, by_address) if t is not None]
    if blocking:
        async with side_transaction(unit) as session:
            await attempt_rows.delete_one(session, attempt_id)
        until = max(blocking) + dt.timedelta(seconds=settings.login_window_seconds)
        raise too_many_attempts(max(1, math.ceil((until - now).total_seconds())))
    return Attempt(id=attempt_id, account_key=key)


async def released(unit: Unit, *, attempt: Attempt) -> None:
    """The password was right but a second factor is still to come: drop the reservation
    only. The account's count stays until the MFA code is right too; otherwise knowing the
    password would buy a fresh set of code guesses with every login."""
    async with side_transaction(unit) as session:
        await attempt_rows.delete_one(session, attempt.id)


async def succeeded(unit: Unit, *, attempt: Attempt, user: User | None = None) -> None:
    """The secret was right: drop the reservation and reset the account's count (also under
    ``user``'s key when given)."""
    keys = sorted({attempt.account_key, *([user_key(user)] if user else [])})
    async with side_transaction(unit) as session:
        await attempt_rows.delete_one(session, attempt.id)
        await attempt_rows.delete_for_accounts(session, keys)


def too_many_attempts(retry_after_seconds: int) -> DomainError:
    return DomainError(
        Problem(
            ErrorCode.TOO_MANY_ATTEMPTS,
            f"Too many failed attempts. Try again in {retry_after_seconds} seconds.",
            None,
            retry_after_seconds=retry_after_seconds,
        )
    )
