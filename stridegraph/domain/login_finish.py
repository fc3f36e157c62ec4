"""The last step of every sign-in: the account's state checked once more, then the session.

Password login (``login``) and the MFA code (``mfa.complete_login``) both end here, so
neither has to import the other: ``login`` calls ``mfa.start_challenge`` after the password,
and ``mfa`` comes back here after the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from stridegraph.db.models import User
from stridegraph.domain import security_alerts
from stridegraph.domain.errors import DomainError, ErrorCode
from stridegraph.domain.security_events import SignInMethod
from stridegraph.domain.sessions import IssuedSession, create_session
from stridegraph.domain.settings import get_settings
from stridegraph.domain.unit import Unit


@dataclass(frozen=True)
class LoginResult:
    """Either a new session, or (MFA on) the token to complete the login with a code."""

    user: User
    session: IssuedSession | None = None
    mfa_token: str | None = None

    @property
    def mfa_required(self) -> bool:
        return self.mfa_token is not None


async def check_can_sign_in(unit: Unit, user: User) -> None:
    """The account's state, most specific first: a sign-up that is not verified yet (only
    while the server requires verification, which it cannot without mail), one awaiting an
    administrator, then one that is simply deactivated."""
    if not user.email_verified and (await get_settings(unit)).signup_require_email_verification:
        raise DomainError.of(
            ErrorCode.EMAIL_NOT_VERIFIED, "Confirm your e-mail address first.", None
        )
    if user.pending_admin_approval:
        raise DomainError.of(
            ErrorCode.PENDING_APPROVAL, "An administrator has not approved this account yet."
        )
    if not user.active:
        raise DomainError.of(ErrorCode.ACCOUNT_INACTIVE, "This account is deactivated.")


async def finish_login(
    unit: Unit,
    *,
    user: User,
    user_agent: str | None,
    client_address: str | None,
    method: SignInMethod = SignInMethod.PASSWORD,
) -> IssuedSession:
    """Open the session once every factor has been checked. ``login`` calls it after the
    password; MFA calls it after a good code (it re-checks the account's state, which may
    have changed since the password was given); passkeys and identity providers after
    their own proof. Records the sign-in (``method``) in the same transaction, and mails
    the owner when it comes from a new device or address."""
    await check_can_sign_in(unit, user)
    issued = await create_session(
        unit, user=user, user_agent=user_agent, client_address=client_address
    )
    await security_alerts.signed_in(unit, user=user, session_id=issued.session.id, method=method)
    return issued
