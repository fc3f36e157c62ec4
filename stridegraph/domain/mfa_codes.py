"""Checking MFA codes: a TOTP (RFC 6238) within one step either side of now, never a step
already used, or an unused backup code, spent on use.

Its own module because two concepts need it: MFA itself (enable, disable, the login
challenge) and recent authentication (a code proves the owner is at the keyboard); keeping
it here lets both import it without importing each other.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets

import pyotp

from stridegraph.db import mfa as mfa_rows
from stridegraph.db.models import User
from stridegraph.db.secrets import mfa_secret_of
from stridegraph.domain import ratelimit, tokens
from stridegraph.domain import security_events as events
from stridegraph.domain.errors import DomainError, ErrorCode
from stridegraph.domain.unit import Unit

log = logging.getLogger("stridegraph.mfa")

PERIOD = 30
DIGITS = 6
VALID_WINDOW = 1
BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/i/l: easy to copy by hand
BACKUP_LENGTH = 10
MAX_CODE_INPUT = 64


def invalid_code() -> DomainError:
    return DomainError.of(ErrorCode.INVALID_CODE, "The code is not valid.", "code")


def normalize_code(code: str) -> str:
    """Codes are typed by hand: ignore spaces, dashes and case."""
    return "".join(code.split()).replace("-", "").lower()


def is_totp_shaped(code: str) -> bool:
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def is_backup_shaped(code: str) -> bool:
    return len(code) == BACKUP_LENGTH and all(c in BACKUP_ALPHABET for c in code)


def new_backup_code() -> str:
    raw = "".join(secrets.choice(BACKUP_ALPHABET) for _ in range(BACKUP_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def backup_digest(secret_key: str, user_id: int, code: str) -> bytes:
    """The stored form of a (normalized) backup code, bound to its user."""
    return tokens.digest(secret_key, f"mfa-backup:{user_id}:{code}")


def time_step(now: dt.datetime) -> int:
    return int(now.timestamp()) // PERIOD


def matching_steps(secret: str, code: str, now: dt.datetime) -> list[int]:
    """The time steps within the window whose TOTP equals ``code`` (compared in constant
    time; normally zero or one step)."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    current = time_step(now)
    return [
        step
        for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1)
        if hmac.compare_digest(totp.generate_otp(step), code)
    ]


def decrypt_secret(unit: Unit, ciphertext: str | None, user_id: int) -> str | None:
    """The secret in clear, or None when no configured key reads it (a key was dropped from
    ENCRYPTION_KEY too early; logged, and backup codes still work)."""
    if ciphertext is None:
        return None
    try:
        return unit.services.cipher.decrypt(ciphertext)
    except ValueError:
        log.error(
            "MFA secret cannot be decrypted with any configured key", extra={"user_id": user_id}
        )
        return None


async def _accept_totp(unit: Unit, user: User, code: str) -> bool:
    stored = await mfa_secret_of(unit.session, user.id)  # deferred on User
    secret = decrypt_secret(unit, stored, user.id)
    steps = matching_steps(secret, code, unit.now()) if secret else []
    return bool(steps) and await mfa_rows.claim_step(unit.session, user.id, max(steps))


async def _accept_backup(unit: Unit, user: User, code: str) -> bool:
    digest = backup_digest(unit.settings.secret_key, user.id, code)
    return await mfa_rows.use_backup_code(unit.session, user.id, digest, unit.now())


async def accept_code(unit: Unit, *, user: User, code: str) -> bool:
    """Whether ``code`` is a fresh TOTP or an unused backup code of ``user`` (spending it).
    Anything else (wrong, replayed, spent, malformed) is simply False."""
    if not user.mfa_enabled or len(code) > MAX_CODE_INPUT:
        return False
    normalized = normalize_code(code)
    if is_totp_shaped(normalized):
        return await _accept_totp(unit, user, normalized)
    if is_backup_shaped(normalized):
        if not await _accept_backup(unit, user, normalized):
            return False
        await events.record(
            unit, type=events.EventType.BACKUP_CODE_USED, subject_id=user.id, actor_id=user.id
        )
        return True
    return False


def reset_after_commit(unit: Unit, attempt: ratelimit.Attempt, user: User) -> None:
    """A good code resets the account's failure count, once this request has committed:
    the reset is its own write, and on SQLite it must not wait for this request's lock."""
    unit.after_commit(lambda: ratelimit.succeeded(unit, attempt=attempt, user=user))
