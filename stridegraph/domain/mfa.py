"""Multi-factor authentication: TOTP (RFC 6238) with single-use backup codes.

- ``setup_mfa`` stores a fresh secret as *pending* (encrypted with ``services.cipher``);
  ``enable_mfa`` turns it on once the user proves their authenticator shows the right code,
  and hands out ten backup codes, once. Only HMAC digests of backup codes are stored: they are
  ~50 random bits, so a slow hash would add nothing but CPU time.
- A TOTP is accepted within one time step either side of ``unit.now()``. The step of every
  accepted code is stored (``mfa_last_used_step``) and a code of that step or an older one is
  refused afterwards, so an observed code cannot be replayed, not even in its own 30 seconds.
- Login: after a correct password ``login`` calls :func:`start_challenge` for a short-lived,
  single-use ``sgm_`` token (no session yet); :func:`complete_login` trades it plus a code for
  a session. The token is no bearer credential: ``resolve_bearer`` only takes ``sga_``/``sgp_``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

import pyotp

from stridegraph.db import mfa as mfa_rows
from stridegraph.db import users as user_rows
from stridegraph.db.enums import TokenPurpose
from stridegraph.db.models import OneTimeToken, User
from stridegraph.domain import mfa_codes, notices, ratelimit, reauth, tokens
from stridegraph.domain import security_events as events
from stridegraph.domain.access import require
from stridegraph.domain.errors import DomainError, ErrorCode
from stridegraph.domain.login_finish import LoginResult, finish_login
from stridegraph.domain.security_events import EventType, SignInMethod
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer

log = logging.getLogger("stridegraph.mfa")
audit = logging.getLogger("stridegraph.audit")

CHALLENGE_TTL = dt.timedelta(minutes=5)
BACKUP_CODE_COUNT = 10


@dataclass(frozen=True)
class MfaSetup:
    """A new pending secret, shown once, in the three forms an authenticator app accepts."""

    secret: str
    otpauth_uri: str
    qr_code_svg: str


@dataclass(frozen=True)
class EnabledMfa:
    user: User
    backup_codes: list[str]


async def _issue_backup_codes(unit: Unit, user_id: int) -> list[str]:
    codes = [mfa_codes.new_backup_code() for _ in range(BACKUP_CODE_COUNT)]
    digests = [
        mfa_codes.backup_digest(unit.settings.secret_key, user_id, mfa_codes.normalize_code(c))
        for c in codes
    ]
    await mfa_rows.replace_backup_codes(unit.session, user_id, digests, unit.now())
    return codes


# --------------------------------------------------------------------------- the user's side


def _qr_svg(uri: str) -> str:
    # segno is imported on first use, not at start-up: only enrolling in MFA draws a QR code
    # (memory, not an import cycle)
    import segno

    return segno.make(uri, error="m").svg_data_uri(scale=4, border=2)


async def setup_mfa(
    unit: Unit,
    *,
    viewer: Viewer,
    proof: reauth.Proof = reauth.NO_PROOF,
) -> MfaSetup:
    """Start (or restart) enrolment: a new pending secret; nothing is enabled yet. Needs
    recent authentication (see ``reauth``): whoever enrols an authenticator can lock the
    owner out."""
    user = viewer.user
    if user.mfa_enabled:
        raise DomainError.of(ErrorCode.MFA_ALREADY_ENABLED, "MFA is already enabled.")
    await reauth.require_recent_auth(unit, viewer=viewer, proof=proof)
    secret = pyotp.random_base32()
    if not await mfa_rows.set_pending_secret(
        unit.session, user.id, unit.services.cipher.encrypt(secret)
    ):
        raise DomainError.of(ErrorCode.MFA_ALREADY_ENABLED, "MFA is already enabled.")
    uri = pyotp.TOTP(secret, digits=mfa_codes.DIGITS, interval=mfa_codes.PERIOD).provisioning_uri(
        name=user.username, issuer_name=unit.settings.mfa_issuer
    )
    return MfaSetup(
        secret=secret, otpauth_uri=uri, qr_code_svg=await asyncio.to_thread(_qr_svg, uri)
    )


async def enable_mfa(
    unit: Unit,
    *,
    viewer: Viewer,
    code: str,
    current_password: str | None = None,
    client_address: str = "unknown",
) -> EnabledMfa:
    """Turn MFA on with the pending secret, given a current code from the authenticator.
    ``code`` is the new authenticator's, so the proof of recent authentication (see
    ``reauth``) is the password or a recent sign-in."""
    user = viewer.user
    if user.mfa_enabled:
        raise DomainError.of(ErrorCode.MFA_ALREADY_ENABLED, "MFA is already enabled.")
    pending = user.mfa_pending_secret
    secret = mfa_codes.decrypt_secret(unit, pending, user.id)
    if pending is None or secret is None:
        raise DomainError.of(ErrorCode.INVALID, "Call setupMfa first to get a secret.")
    await reauth.require_recent_auth(
        unit,
        viewer=viewer,
        proof=reauth.Proof(current_password=current_password, client_address=client_address),
    )
    normalized = mfa_codes.normalize_code(code) if len(code) <= mfa_codes.MAX_CODE_INPUT else ""
    steps = (
        mfa_codes.matching_steps(secret, normalized, unit.now())
        if mfa_codes.is_totp_shaped(normalized)
        else []
    )
    if not steps:
        raise mfa_codes.invalid_code()
    enabled = await mfa_rows.enable(
        unit.session,
        user.id,
        pending=pending,
        ciphertext=unit.services.cipher.encrypt(secret),
        step=max(steps),
    )
    if not enabled:  # a concurrent enableMfa or setupMfa got there first
        await unit.session.refresh(user)
        if user.mfa_enabled:
            raise DomainError.of(ErrorCode.MFA_ALREADY_ENABLED, "MFA is already enabled.")
        raise mfa_codes.invalid_code()
    codes = await _issue_backup_codes(unit, user.id)
    await unit.session.refresh(user)
    await notices.mfa_changed(unit, user=user, change="enabled")
    await events.record(unit, type=EventType.MFA_ENABLED, subject_id=user.id, viewer=viewer)
    return EnabledMfa(user=user, backup_codes=codes)


async def _require_code(unit: Unit, viewer: Viewer, code: str, client_address: str) -> None:
    """A signed-in user proving possession again (disable, new backup codes), through the
    one recent-authentication rule: failures count toward the account's login rate limit,
    so a stolen session cannot brute-force codes."""
    if not viewer.user.mfa_enabled:
        raise DomainError.of(ErrorCode.MFA_NOT_ENABLED, "MFA is not enabled.")
    proof = reauth.Proof(code=code, client_address=client_address)
    await reauth.require_recent_auth(unit, viewer=viewer, proof=proof)


async def _turn_off(unit: Unit, user: User) -> None:
    await mfa_rows.disable(unit.session, user.id)
    await mfa_rows.delete_login_tokens(unit.session, user.id)
    await unit.session.refresh(user)


async def disable_mfa(
    unit: Unit, *, viewer: Viewer, code: str, client_address: str = "unknown"
) -> User:
    """Turn MFA off, given a current TOTP or an unused backup code."""
    user = viewer.user
    await _require_code(unit, viewer, code, client_address)
    await _turn_off(unit, user)
    await notices.mfa_changed(unit, user=user, change="disabled")
    await events.record(unit, type=EventType.MFA_DISABLED, subject_id=user.id, viewer=viewer)
    return user


async def regenerate_backup_codes(
    unit: Unit, *, viewer: Viewer, code: str, client_address: str = "unknown"
) -> list[str]:
    """Replace every backup code (used or not) with ten new ones, shown once."""
    user = viewer.user
    await _require_code(unit, viewer, code, client_address)
    codes = await _issue_backup_codes(unit, user.id)
    await events.record(
        unit, type=EventType.BACKUP_CODES_REGENERATED, subject_id=user.id, viewer=viewer
    )
    return codes


# --------------------------------------------------------------------------- the admin's side


async def reset_user_mfa(unit: Unit, *, viewer: Viewer, user_id: int) -> User:
    """Turn MFA off for a user who lost their authenticator and backup codes. Recorded in the
    log with both ids. Not for oneself: that is ``disableMfa``, which asks for a code."""
    require(viewer, admin=True)
    user = await user_rows.get_by_id(unit.session, user_id)
    if user is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such user.", "id")
    if user.id == viewer.user_id:
        raise DomainError.of(
            ErrorCode.CANNOT_MODIFY_SELF, "Use disableMfa with a code for your own account.", "id"
        )
    if not user.mfa_enabled:
        raise DomainError.of(ErrorCode.MFA_NOT_ENABLED, "MFA is not enabled for this user.", "id")
    await _turn_off(unit, user)
    await notices.mfa_changed(unit, user=user, change="reset")
    await events.record(unit, type=EventType.ADMIN_MFA_RESET, subject_id=user.id, viewer=viewer)
    admin_id, target_id = viewer.user_id, user.id
    unit.after_commit(
        lambda: audit.info(
            "MFA reset by an administrator",
            extra={"event": "mfa_reset", "admin_id": admin_id, "user_id": target_id},
        )
    )
    return user


# --------------------------------------------------------------------------- login


async def start_challenge(unit: Unit, *, user: User) -> str:
    """Called by ``login`` after a correct password when ``user.mfa_enabled``: returns a
    short-lived, single-use MFA token (no session is created yet)."""
    now = unit.now()
    await mfa_rows.delete_stale_login_tokens(unit.session, user.id, now)
    token, digest = tokens.issue(unit.settings.secret_key, tokens.MFA_LOGIN)
    mfa_rows.add_login_token(
        unit.session,
        OneTimeToken(
            user_id=user.id,
            purpose=TokenPurpose.MFA_LOGIN,
            token_hash=digest,
            created_at=now,
            expires_at=now + CHALLENGE_TTL,
        ),
    )
    await unit.session.flush()
    return token


async def challenged_user(unit: Unit, *, mfa_token: str) -> tuple[OneTimeToken, User]:
    """The live challenge for ``mfa_token`` and its user, or INVALID_TOKEN."""
    found = None
    if tokens.looks_like(mfa_token, tokens.MFA_LOGIN):
        digest = tokens.digest(unit.settings.secret_key, mfa_token)
        found = await mfa_rows.find_login_token(unit.session, digest, unit.now())
    if found is None or not (found[1].active and found[1].mfa_enabled):
        raise DomainError.of(
            ErrorCode.INVALID_TOKEN,
            "The MFA token is invalid or expired; sign in again.",
            "mfa_token",
        )
    return found


async def complete_login(
    unit: Unit,
    *,
    mfa_token: str,
    code: str,
    client_address: str,
    user_agent: str | None = None,
) -> LoginResult:
    """Second step of login: a valid code turns the challenge into a session. A failed code
    counts toward the account's and the address's login rate limits (and survives the
    rollback of this request); a good one resets the account's count, like a good password
    without MFA does. A failed code leaves the challenge usable until it expires."""
    async with events.SignInFailures(unit, SignInMethod.MFA) as attempt:
        challenge, user = await challenged_user(unit, mfa_token=mfa_token)
        attempt.user_id = user.id
        return await _finish_with_code(
            unit,
            challenge=challenge,
            user=user,
            code=code,
            client_address=client_address,
            user_agent=user_agent,
        )


async def _finish_with_code(
    unit: Unit,
    *,
    challenge: OneTimeToken,
    user: User,
    code: str,
    client_address: str,
    user_agent: str | None,
) -> LoginResult:
    attempt = await ratelimit.begin_attempt(
        unit, account_key=ratelimit.user_key(user), client_address=client_address
    )
    if not await mfa_codes.accept_code(unit, user=user, code=code):
        raise mfa_codes.invalid_code()
    if not await mfa_rows.use_login_token(unit.session, challenge.id, unit.now()):
        raise DomainError.of(
            ErrorCode.INVALID_TOKEN, "The MFA token was already used.", "mfa_token"
        )
    mfa_codes.reset_after_commit(unit, attempt, user)
    issued = await finish_login(
        unit,
        user=user,
        user_agent=user_agent,
        client_address=client_address,
        method=SignInMethod.MFA,
    )
    return LoginResult(user=user, session=issued)


# --------------------------------------------------------------------------- key rotation


async def reencrypt_secrets(unit: Unit) -> int:
    """Re-encrypt every stored MFA secret under the first ENCRYPTION_KEY, so an old key can
    then be dropped from the list. Returns how many values were rewritten."""
    cipher = unit.services.cipher
    changed = 0
    for user in await mfa_rows.users_with_secrets(unit.session):
        for column in ("mfa_secret", "mfa_pending_secret"):
            value = getattr(user, column)
            if value is not None and not cipher.is_current(value):
                setattr(user, column, cipher.rotate(value))
                changed += 1
    await unit.session.flush()
    return changed
