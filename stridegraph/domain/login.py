"""Signing in with a password, and changing it.

Unknown user and wrong password take the same path, cost the same (a dummy argon2
verification when there is no hash) and give the same INVALID_CREDENTIALS, counted by the
same rate limits: failures count against the account, whichever identifier named it, and
against the typed identifier only when it names nobody. What is wrong with an account (not
verified, awaiting approval, deactivated) is only said after a correct password.

Opening the session once every factor is checked is ``login_finish`` (shared with MFA, which
this module calls to start a challenge); its names are re-exported here for callers that
finish a sign-in of their own kind the way password login does.
"""

from __future__ import annotations

from stridegraph.db import users as user_rows
from stridegraph.db.models import User
from stridegraph.domain import credentials, mfa, ratelimit, reauth, security_alerts
from stridegraph.domain import security_events as events
from stridegraph.domain.accounts import set_password
from stridegraph.domain.errors import Collector, DomainError, ErrorCode
from stridegraph.domain.login_finish import LoginResult, check_can_sign_in, finish_login
from stridegraph.domain.security_events import EventType, SignInMethod
from stridegraph.domain.settings import get_settings
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer

__all__ = [
    "LoginResult",
    "attempt_key",
    "change_password",
    "check_can_sign_in",
    "check_guess",
    "find_user",
    "finish_login",
    "invalid_credentials",
    "login",
    "rehash_if_outdated",
]


def invalid_credentials(field: str | None = None) -> DomainError:
    return DomainError.of(
        ErrorCode.INVALID_CREDENTIALS, "The username or password is incorrect.", field
    )


async def find_user(unit: Unit, identifier: str) -> User | None:
    """By username (case-insensitive) unless it has an ``@`` (usernames cannot); by e-mail
    address only for an account that could sign in but for the password.

    An address that is not verified (where the server requires it) or whose account awaits
    approval names nobody here: a sign-up with a taken address makes an account that does
    not own it (``domain/signup.py``), so "not verified" by address would tell a fresh
    address from a taken one. Such accounts still sign in by username."""
    if "@" not in identifier:
        return await user_rows.get_by_username(unit.session, identifier, with_password_hash=True)
    settings = await get_settings(unit)  # read on both paths: same statements for everyone
    user = await user_rows.get_by_email(unit.session, identifier, with_password_hash=True)
    if user is None or user.pending_admin_approval:
        return None
    if settings.signup_require_email_verification and not user.email_verified:
        return None
    return user


def attempt_key(user: User | None, identifier: str) -> str:
    """Failures count against the account when the identifier names one, else against the
    identifier (see ``ratelimit``)."""
    return ratelimit.user_key(user) if user is not None else ratelimit.account_key(identifier)


async def login(
    unit: Unit,
    *,
    username: str,
    password: str,
    client_address: str,
    user_agent: str | None = None,
) -> LoginResult:
    """Check the password, then the account's state, then open a session, or start an MFA
    challenge when the user has MFA on. ``username`` may be the e-mail address."""
    errors = Collector()
    if not username.strip():
        errors.add(ErrorCode.REQUIRED, "Enter your username or e-mail address.", "username")
    if not password:
        errors.add(ErrorCode.REQUIRED, "Enter your password.", "password")
    errors.raise_if_any()
    identifier = username.strip()
    user = await find_user(unit, identifier)
    async with events.SignInFailures(unit, SignInMethod.PASSWORD, user.id if user else None):
        return await _check_and_finish(
            unit,
            user=user,
            identifier=identifier,
            password=password,
            client_address=client_address,
            user_agent=user_agent,
        )


async def _check_and_finish(
    unit: Unit,
    *,
    user: User | None,
    identifier: str,
    password: str,
    client_address: str,
    user_agent: str | None,
) -> LoginResult:
    """The rest of ``login`` once the identifier was looked up; every refusal is recorded
    as a failed sign-in (or lockout) by the caller."""
    await unit.release()  # no connection held by the rate limiter or while queued for argon2
    attempt, matches = await check_guess(
        unit,
        account_key=attempt_key(user, identifier),
        client_address=client_address,
        password_hash=user.password_hash if user is not None else None,
        password=password,
    )
    if not matches or user is None:
        raise invalid_credentials()
    if user.mfa_enabled:  # the count resets only once the MFA code is right too
        await ratelimit.released(unit, attempt=attempt)
    else:
        await ratelimit.succeeded(unit, attempt=attempt, user=user)
    await check_can_sign_in(unit, user)
    await rehash_if_outdated(unit, user, password)
    if user.mfa_enabled:
        return LoginResult(user=user, mfa_token=await mfa.start_challenge(unit, user=user))
    issued = await finish_login(
        unit, user=user, user_agent=user_agent, client_address=client_address
    )
    return LoginResult(user=user, session=issued)


async def check_guess(
    unit: Unit, *, account_key: str, client_address: str, password_hash: str | None, password: str
) -> tuple[ratelimit.Attempt, bool]:
    """Check a password guess under the rate limits: a locked-out account or address is
    refused before it queues for hashing, and the attempt is reserved (the exact count) only
    once it holds its hashing slot. So a burst of correct logins from one address waits its
    turn instead of counting as failures, while guesses that race still see each other."""
    await ratelimit.refuse_if_locked(unit, account_key=account_key, client_address=client_address)

    async def admit() -> ratelimit.Attempt:
        return await ratelimit.begin_attempt(
            unit, account_key=account_key, client_address=client_address
        )

    return await unit.services.passwords.verify_admitted(password_hash, password, admit=admit)


async def rehash_if_outdated(unit: Unit, user: User, password: str) -> None:
    """Re-hash a just-verified password whose argon2 parameters are not the current ones,
    so raising the cost settings upgrades every account at its next sign-in."""
    passwords = unit.services.passwords
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(password, urgent=True)
        await unit.session.flush()


async def change_password(
    unit: Unit,
    *,
    viewer: Viewer,
    proof: reauth.Proof,
    new_password: str,
    revoke_api_tokens: bool = False,
) -> User:
    """Replace the viewer's password after checking ``proof`` (the current password,
    and a code when given), through the recent-authentication rule: a wrong one counts
    toward the account's rate limit like a failed login. Every other session ends; the one
    making the request stays signed in. API tokens stay unless ``revoke_api_tokens``: a
    routine change is no sign of theft (a reset or an administrator's action is, and ends
    them all)."""
    user = viewer.user
    await reauth.require_recent_auth(unit, viewer=viewer, proof=proof)
    await set_password(unit, user=user, password=new_password, field="new_password")
    await credentials.end_all(
        unit,
        user_id=user.id,
        keep_session_id=viewer.session_id,
        api_tokens=revoke_api_tokens,
    )
    await events.record(
        unit,
        type=EventType.PASSWORD_CHANGED,
        subject_id=user.id,
        viewer=viewer,
        detail={"apiTokensRevoked": revoke_api_tokens},
    )
    await security_alerts.password_changed(unit, user=user)
    return user
