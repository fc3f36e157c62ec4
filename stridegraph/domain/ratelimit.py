"""Rate limits on password (and MFA code) guesses, per account and per client address; on
sign-ups and password-reset requests per client address; and cooldowns of notice mails.

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
the request back. Call :func:`begin_attempt` just before the secret is checked (for a
password, inside its hashing slot: ``login.check_guess``) and before the request writes
anything of its own (on SQLite a second writer would wait for the first).

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

from stridegraph.config import Settings
from stridegraph.db import login_attempts as attempt_rows
from stridegraph.db.keys import email_key
from stridegraph.db.models import User
from stridegraph.domain.errors import DomainError, ErrorCode, Problem
from stridegraph.domain.unit import Unit

MAX_KEY = 250
MAX_ADDRESS = 64
#: The client address of rows that are not login attempts (``!action:…`` keys).
NO_ADDRESS = "-"
LOGIN_REFUSAL = "Too many failed attempts."
#: At most one notice of a kind per address within this time (``first_in_cooldown``).
NOTICE_COOLDOWN = dt.timedelta(minutes=15)


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


def horizon(settings: Settings) -> dt.timedelta:
    """How long any row can still count: the longest window of all the limits kept here
    (the retention purge never deletes a younger row)."""
    seconds = max(settings.login_window_seconds, settings.signup_window_seconds)
    return max(dt.timedelta(seconds=seconds), NOTICE_COOLDOWN)


def _horizon(unit: Unit) -> dt.timedelta:
    return horizon(unit.settings)


Limits = list[tuple[int, dict[str, str]]]


async def _blocking_until(
    unit: Unit,
    *,
    now: dt.datetime,
    window: dt.timedelta,
    limits: Limits,
    exclude_id: int = 0,
) -> dt.datetime | None:
    """When the first of ``limits`` (how many rows, matching which column) that is reached
    frees up again, or None when none is reached; ``exclude_id``'s row is not counted."""
    blocking: list[dt.datetime] = []
    async with unit.services.sessions() as session:
        for n, where in limits:
            found = await attempt_rows.nth_latest(
                session, since=now - window, n=n, exclude_id=exclude_id, **where
            )
            if found is not None:
                blocking.append(found)
    return max(blocking) + window if blocking else None


def _refusal(until: dt.datetime, now: dt.datetime, refusal: str) -> DomainError:
    return too_many_attempts(max(1, math.ceil((until - now).total_seconds())), refusal)


async def _reserve(
    unit: Unit,
    *,
    key: str,
    address: str,
    window_seconds: int,
    limits: Limits,
    refusal: str,
) -> int:
    """Commit one row, then count it with every other reservation; when any of ``limits``
    is reached, remove it again and raise TOO_MANY_ATTEMPTS with the delay until the
    oldest counted row leaves the window."""
    now = unit.now()
    window = dt.timedelta(seconds=window_seconds)
    async with side_transaction(unit) as session:
        await attempt_rows.purge_before(session, now - _horizon(unit))
        attempt_id = await attempt_rows.add(
            session, account_key=key, client_address=address, now=now
        )
    until = await _blocking_until(
        unit, now=now, window=window, limits=limits, exclude_id=attempt_id
    )
    if until is not None:
        async with side_transaction(unit) as session:
            await attempt_rows.delete_one(session, attempt_id)
        raise _refusal(until, now, refusal)
    return attempt_id


def _login_limits(unit: Unit, key: str, address: str) -> Limits:
    settings = unit.settings
    return [
        (settings.login_max_failures_account, {"account_key": key}),
        (settings.login_max_failures_address, {"client_address": address}),
    ]


def _login_subjects(account_key: str, client_address: str) -> tuple[str, str]:
    return account_key[:MAX_KEY], (client_address or "unknown")[:MAX_ADDRESS]


async def refuse_if_locked(unit: Unit, *, account_key: str, client_address: str) -> None:
    """Raise TOO_MANY_ATTEMPTS when the account or the address has already used up its
    failures, without reserving anything: read-only, so a locked-out client is refused
    before it queues for a hashing slot. The exact, race-free count is
    :func:`begin_attempt`'s, once the check is about to run."""
    key, address = _login_subjects(account_key, client_address)
    now = unit.now()
    window = dt.timedelta(seconds=unit.settings.login_window_seconds)
    until = await _blocking_until(
        unit, now=now, window=window, limits=_login_limits(unit, key, address)
    )
    if until is not None:
        raise _refusal(until, now, LOGIN_REFUSAL)


async def begin_attempt(unit: Unit, *, account_key: str, client_address: str) -> Attempt:
    """Reserve one attempt, or raise TOO_MANY_ATTEMPTS (with the retry delay) when the
    account or the client address has used up its failures for the window.

    Call it only when the secret is about to be checked (for a password: inside its hashing
    slot, see ``PasswordService.verify_admitted``): every reservation counts until it is
    settled, so reservations made long before the check would count correct logins still
    waiting in a queue as failures."""
    key, address = _login_subjects(account_key, client_address)
    attempt_id = await _reserve(
        unit,
        key=key,
        address=address,
        window_seconds=unit.settings.login_window_seconds,
        limits=_login_limits(unit, key, address),
        refusal=LOGIN_REFUSAL,
    )
    return Attempt(id=attempt_id, account_key=key)


async def count_request(unit: Unit, *, action: str, client_address: str, limit: int) -> None:
    """Count one ``action`` (a sign-up, a password-reset request) by ``client_address``,
    shared by every worker: TOO_MANY_ATTEMPTS once ``limit`` were made within
    ``SIGNUP_WINDOW``. Every request counts, whatever it then answers, and the refusal is the
    same for every address given in it, so it tells nothing about accounts.

    The row is keyed ``!action:address`` and carries no client address of its own, so the
    login limit per address never counts it. Call it before the request writes anything."""
    key = f"!{action}:{(client_address or 'unknown')[:MAX_ADDRESS]}"
    await _reserve(
        unit,
        key=key,
        address=NO_ADDRESS,
        window_seconds=unit.settings.signup_window_seconds,
        limits=[(limit, {"account_key": key})],
        refusal="Too many requests from your address.",
    )


async def first_in_cooldown(unit: Unit, *, action: str, subject: str) -> bool:
    """True for the first ``action`` about ``subject`` within :data:`NOTICE_COOLDOWN` (then
    recorded), False for later ones. Recorded in the request's own transaction: a request
    that rolls back leaves no trace, just as its mail is never sent."""
    now = unit.now()
    return await attempt_rows.record_once(
        unit.session,
        account_key=f"!{action}:{subject}"[:MAX_KEY],
        client_address=NO_ADDRESS,
        since=now - NOTICE_COOLDOWN,
        now=now,
    )


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


def too_many_attempts(
    retry_after_seconds: int, refusal: str = "Too many failed attempts."
) -> DomainError:
    return DomainError(
        Problem(
            ErrorCode.TOO_MANY_ATTEMPTS,
            f"{refusal} Try again in {retry_after_seconds} seconds.",
            None,
            retry_after_seconds=retry_after_seconds,
        )
    )
