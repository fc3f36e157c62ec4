"""One-time tokens for links we mail (and the MFA login step): hashed, expiring, single use,
bound to one purpose.

Only the HMAC digest (``domain/tokens.digest``) is stored. A token is looked up together with
its purpose, so a token of one kind is useless as another. For mailed links, ``address`` (the
row's ``new_email`` column) records where the link was sent: the e-mail-change target, or the
account's address for verification and reset, so a link dies when the address it proved
changes.
"""

from __future__ import annotations

import datetime as dt

from stridegraph.db import one_time_tokens as rows
from stridegraph.db.enums import TokenPurpose
from stridegraph.db.models import OneTimeToken
from stridegraph.domain import tokens
from stridegraph.domain.errors import DomainError, ErrorCode
from stridegraph.domain.unit import Unit

LIFETIMES: dict[TokenPurpose, dt.timedelta] = {
    TokenPurpose.EMAIL_VERIFICATION: dt.timedelta(hours=24),
    TokenPurpose.PASSWORD_RESET: dt.timedelta(hours=1),
    TokenPurpose.EMAIL_CHANGE: dt.timedelta(hours=24),
    TokenPurpose.MFA_LOGIN: dt.timedelta(minutes=5),
}

#: The set-password link for an account an administrator created without a password: a
#: password-reset token that lives longer, because the new user may not read mail at once.
SET_PASSWORD_LIFETIME = dt.timedelta(hours=72)


def prefix_for(purpose: TokenPurpose) -> str:
    return tokens.MFA_LOGIN if purpose is TokenPurpose.MFA_LOGIN else tokens.ONE_TIME


def invalid_token(field: str | None = "token") -> DomainError:
    return DomainError.of(ErrorCode.INVALID_TOKEN, "This link is invalid or has expired.", field)


async def create(
    unit: Unit,
    *,
    user_id: int,
    purpose: TokenPurpose,
    lifetime: dt.timedelta | None = None,
    address: str | None = None,
    replace: bool = True,
) -> str:
    """Issue a token and return it in clear (the only time it exists). With ``replace`` (the
    default) earlier unused tokens of the same purpose stop working: only the newest link
    is good."""
    now = unit.now()
    if replace:
        await rows.invalidate(unit.session, user_id=user_id, purposes=(purpose,), now=now)
    await rows.delete_spent(unit.session, user_id=user_id, now=now)
    token, digest = tokens.issue(unit.settings.secret_key, prefix_for(purpose))
    await rows.add(
        unit.session,
        OneTimeToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=digest,
            new_email=address,
            created_at=now,
            expires_at=now + (lifetime or LIFETIMES[purpose]),
        ),
    )
    return token


async def consume(
    unit: Unit,
    *,
    token: str,
    purpose: TokenPurpose,
    user_id: int | None = None,
    field: str | None = "token",
) -> OneTimeToken:
    """Use a token up and return its row, or raise INVALID_TOKEN (malformed, unknown, of
    another purpose, of another user when ``user_id`` is given, expired or already used).
    The caller's transaction decides: when it rolls back, the token stays unused."""
    token = token.strip()
    if not tokens.looks_like(token, prefix_for(purpose)):
        raise invalid_token(field)
    row = await rows.consume(
        unit.session,
        token_hash=tokens.digest(unit.settings.secret_key, token),
        purpose=purpose,
        now=unit.now(),
        user_id=user_id,
    )
    if row is None:
        raise invalid_token(field)
    return row


async def invalidate(unit: Unit, *, user_id: int, purposes: tuple[TokenPurpose, ...]) -> int:
    """Retire a user's unused tokens of these purposes (after a reset, an e-mail change…)."""
    return await rows.invalidate(unit.session, user_id=user_id, purposes=purposes, now=unit.now())


async def issued_recently(
    unit: Unit, *, user_id: int, purpose: TokenPurpose, within: dt.timedelta
) -> bool:
    """Whether a token of this purpose went to the user less than ``within`` ago (so repeated
    requests cannot flood a mailbox)."""
    last = await rows.last_issued_at(unit.session, user_id=user_id, purpose=purpose)
    return last is not None and last > unit.now() - within


async def peek(
    unit: Unit, *, token: str, purpose: TokenPurpose, field: str | None = "token"
) -> OneTimeToken:
    """The row of a live token, left unused; INVALID_TOKEN like :func:`consume` otherwise."""
    token = token.strip()
    if not tokens.looks_like(token, prefix_for(purpose)):
        raise invalid_token(field)
    row = await rows.find_live(
        unit.session,
        token_hash=tokens.digest(unit.settings.secret_key, token),
        purpose=purpose,
        now=unit.now(),
    )
    if row is None:
        raise invalid_token(field)
    return row
