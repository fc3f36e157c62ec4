"""Recent authentication for sensitive changes (OWASP ASVS V3.7).

A stolen access token must not become a permanent takeover: minting an API token, turning
MFA on or off, changing the password or e-mail address and deleting the account ask for
proof that the account's owner is at the keyboard. The proof is one of:

- the current password;
- for a user with MFA on, a fresh TOTP or an unused backup code;
- a session that signed in less than ``REAUTH_WINDOW`` seconds ago. The clock starts at the
  session's creation (the password, and the code with MFA, were given then); refreshing the
  session does not restart it, or a stolen refresh token would stay "recent" for ever.

An API token is never a recent sign-in: a script holding one must send the password or a
code. A proof that is given must be right even within the window (a client sending a wrong
password is told so, never waved through). A wrong password or code counts toward the
account's login rate limit like a failed login, so a stolen session cannot be used to guess
either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from stridegraph.db.models import User
from stridegraph.db.secrets import password_hash_of
from stridegraph.domain import mfa_codes, ratelimit
from stridegraph.domain.errors import DomainError, ErrorCode
from stridegraph.domain.passwords import MAX_PASSWORD_LENGTH
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer

PASSWORD_FIELD = "current_password"
CODE_FIELD = "code"


@dataclass(frozen=True)
class Proof:
    """What a request offers as proof of recent authentication, in one value: every
    sensitive operation takes the same three things (the current password, an MFA code, and
    the client address the rate limiter counts a wrong one against), so they travel together
    from the resolver to :func:`require_recent_auth` instead of as three keywords each way."""

    current_password: str | None = None
    code: str | None = None
    client_address: str = "unknown"


NO_PROOF = Proof()


def signed_in_recently(unit: Unit, viewer: Viewer) -> bool:
    """Whether the viewer's credential is a session that signed in within the window."""
    if viewer.signed_in_at is None:  # an API token
        return False
    window = dt.timedelta(seconds=unit.settings.reauth_window_seconds)
    return unit.now() - viewer.signed_in_at < window


def reauthentication_required(user: User) -> DomainError:
    """No proof was sent and the sign-in is not recent: say what to send."""
    what = "currentPassword or code (from your authenticator app, or a backup code)"
    send = what if user.mfa_enabled else "currentPassword"
    message = (
        f"This change needs proof that it is you: send {send}, "
        "or sign in again and retry within a few minutes."
    )
    return DomainError.of(ErrorCode.REAUTHENTICATION_REQUIRED, message)


async def require_recent_auth(
    unit: Unit,
    *,
    viewer: Viewer,
    proof: Proof = NO_PROOF,
    proof_field: str = PASSWORD_FIELD,
) -> None:
    """Pass when the given proof is right, or when none is given and the session signed in
    recently; otherwise raise INVALID_CREDENTIALS (on ``proof_field``), INVALID_CODE or
    MFA_NOT_ENABLED (on ``code``), or REAUTHENTICATION_REQUIRED. Call it before the request
    writes anything of its own (the rate limiter writes in a side transaction)."""
    user = viewer.user
    current_password, code = proof.current_password, proof.code
    if current_password is None and code is None:
        if signed_in_recently(unit, viewer):
            return
        raise reauthentication_required(user)
    if code is not None and not user.mfa_enabled:
        raise DomainError.of(
            ErrorCode.MFA_NOT_ENABLED,
            "You have no MFA, so there is no code to give: send currentPassword.",
            CODE_FIELD,
        )
    attempt = await ratelimit.begin_attempt(
        unit, account_key=ratelimit.user_key(user), client_address=proof.client_address
    )
    if current_password is not None:
        stored = await password_hash_of(unit.session, user.id)  # deferred on User
        await unit.release()  # no connection held while queued for argon2
        if not await _password_is_right(unit, stored, current_password):
            raise DomainError.of(
                ErrorCode.INVALID_CREDENTIALS, "The current password is wrong.", proof_field
            )
    if code is None:
        await ratelimit.succeeded(unit, attempt=attempt, user=user)
        return
    if not await mfa_codes.accept_code(unit, user=user, code=code):
        raise mfa_codes.invalid_code()
    mfa_codes.reset_after_commit(unit, attempt, user)  # accepting the code wrote: reset later


async def _password_is_right(unit: Unit, stored: str | None, password: str) -> bool:
    if len(password) > MAX_PASSWORD_LENGTH:  # never hash a megabyte to refuse it
        return False
    return await unit.services.passwords.verify(stored, password)
