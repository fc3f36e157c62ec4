"""Self-service sign-up, e-mail verification and re-sent verification links.

Account states (``active`` stays the administrator's on/off switch; a sign-up's progress is
carried by the two other flags, which login checks after a correct password):

- neither verification nor approval required: ``ACTIVE`` at once;
- verification required: ``email_verified=False`` until ``verifyEmail``
  (login: EMAIL_NOT_VERIFIED while the server requires verification);
- approval required: ``pending_admin_approval=True`` until ``approveUser``
  (login: PENDING_APPROVAL). With both, admins are mailed once the address is verified, so
  they only ever review proven addresses; with approval alone, at sign-up.

No enumeration: whenever the answer for a new account would not be ``ACTIVE``, a sign-up
with an address already in use gets exactly that answer, through every later operation:

- the account is created all the same (same username claim, same password hashing, same
  status), but it does not own the address: ``email`` is stored as given, ``email_key``
  stays NULL, so it is never found by address, never sent a verification link (it can never
  be verified) and never mailed at all; the address's owner is mailed a notice instead
  (once per cooldown, ``notices.signup_existing``);
- ``login`` by username answers as for any fresh sign-up (EMAIL_NOT_VERIFIED or
  PENDING_APPROVAL after the right password), and ``login`` by address only finds accounts
  that could sign in but for the password (``login.find_user``), so a fresh unverified
  address and a taken one both answer INVALID_CREDENTIALS there;
- ``resendVerificationEmail``, ``requestPasswordReset`` and ``verifyEmail`` already answer
  the same for every address and token.

Only where the new account would be usable at once (nothing required) is it EMAIL_TAKEN,
since no pretence could survive the first login. A taken username is always
USERNAME_TAKEN: usernames are public anyway.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from stridegraph.db import users as user_rows
from stridegraph.db.enums import Language, TokenPurpose
from stridegraph.db.models import User
from stridegraph.domain import notices, ratelimit
from stridegraph.domain import one_time_tokens as ott
from stridegraph.domain.accounts import NewAccount, create_account, owns_address
from stridegraph.domain.errors import Collector, DomainError, ErrorCode
from stridegraph.domain.settings import get_settings
from stridegraph.domain.unit import Unit
from stridegraph.domain.validation import check_email

#: A second mailed link for the same account and purpose within this time is not sent
#: (the answer stays the same), so nobody can flood a mailbox through these mutations.
RESEND_COOLDOWN = dt.timedelta(seconds=60)


class SignUpStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    EMAIL_VERIFICATION_REQUIRED = "EMAIL_VERIFICATION_REQUIRED"
    ADMIN_APPROVAL_REQUIRED = "ADMIN_APPROVAL_REQUIRED"


def mail_disabled(field: str | None = None) -> DomainError:
    return DomainError.of(
        ErrorCode.MAIL_DISABLED, "Mail is disabled on this server, so no link can be sent.", field
    )


def require_mail(unit: Unit, field: str | None = None) -> None:
    if not unit.services.mailer.enabled:
        raise mail_disabled(field)


def check_address(email: str, field: str = "email") -> str:
    """A syntactically valid address (REQUIRED / INVALID); says nothing about accounts."""
    errors = Collector()
    check_email(errors, email.strip(), field)
    errors.raise_if_any()
    return email.strip()


def _only_email_taken(exc: DomainError) -> bool:
    return [p.code for p in exc.problems] == [ErrorCode.EMAIL_TAKEN]


async def _sign_up_without_address(unit: Unit, *, account: NewAccount) -> None:
    """The taken-address path: the same account, hashing and answer as a new address, but
    without the address (see the module docstring); the owner is told instead."""
    await create_account(unit, account=replace(account, claim_email=False))
    owner = await user_rows.get_by_email(unit.session, account.email)
    if owner is not None:
        await notices.signup_existing(unit, user=owner)


async def send_verification(unit: Unit, *, user: User) -> None:
    token = await ott.create(
        unit, user_id=user.id, purpose=TokenPurpose.EMAIL_VERIFICATION, address=user.email
    )
    await notices.verification_link(unit, user=user, token=token)


async def sign_up(
    unit: Unit,
    *,
    username: str,
    email: str,
    name: str,
    password: str | None,
    preferred_language: Language | None = None,
    profile: Mapping[str, Any] | None = None,
    client_address: str = "unknown",
) -> SignUpStatus:
    """Create an account per the server settings; SIGNUP_DISABLED when sign-up is off,
    TOO_MANY_ATTEMPTS beyond ``SIGNUP_MAX_PER_ADDRESS`` sign-ups from one client address.

    ``profile`` holds the other profile fields the client gave (the seed's sign-up takes
    them all), checked by the same rules as ``updateMe``; ``preferred_language`` left out
    or null means the server's default. Without a password (only where
    ``PASSWORDLESS_SIGNUP`` allows it, and mail works) the account's first credential comes
    from a mailed set-password link, which can register a passkey
    (``startPasskeyRegistration(token:)``) or set a password."""
    settings = await get_settings(unit)
    if not settings.signup_enabled:
        raise DomainError.of(ErrorCode.SIGNUP_DISABLED, "Sign-up is disabled on this server.")
    if password is None:
        if not unit.settings.passwordless_signup:
            raise DomainError.of(ErrorCode.REQUIRED, "Choose a password.", "password")
        require_mail(unit, "password")
    await unit.release()  # the limiter's side transactions need no second pooled connection
    await ratelimit.count_request(
        unit,
        action="signup",
        client_address=client_address,
        limit=unit.settings.signup_max_per_address,
    )
    verify = settings.signup_require_email_verification
    approve = settings.signup_require_admin_approval
    if verify:
        status = SignUpStatus.EMAIL_VERIFICATION_REQUIRED
    elif approve:
        status = SignUpStatus.ADMIN_APPROVAL_REQUIRED
    else:
        status = SignUpStatus.ACTIVE
    account = NewAccount(
        username=username.strip(),
        email=email.strip(),
        name=name.strip(),
        password=password,
        active=True,
        email_verified=False,
        pending_admin_approval=approve,
        profile={
            **{k: v for k, v in (profile or {}).items() if k != "preferred_language"},
            **({"preferred_language": preferred_language} if preferred_language else {}),
        },
    )
    try:
        user = await create_account(unit, account=account)
    except DomainError as exc:
        if status is SignUpStatus.ACTIVE or not _only_email_taken(exc):
            raise
        await _sign_up_without_address(unit, account=account)
        return status
    if verify:
        await send_verification(unit, user=user)
    elif approve:
        await notices.approval_requested(unit, user=user)
    if password is None:
        await notices.set_password_link(unit, user=user)
    return status


async def verify_email(unit: Unit, *, token: str) -> SignUpStatus:
    """Prove the address with the mailed token (single use, 24 h, only for the address it
    was sent to). Returns ADMIN_APPROVAL_REQUIRED (admins are mailed now) or ACTIVE."""
    row = await ott.consume(unit, token=token, purpose=TokenPurpose.EMAIL_VERIFICATION)
    user = await user_rows.get_by_id(unit.session, row.user_id)
    if user is None or not owns_address(user, row.new_email):
        raise ott.invalid_token()
    await ott.invalidate(unit, user_id=user.id, purposes=(TokenPurpose.EMAIL_VERIFICATION,))
    user.email_verified = True
    user.updated_at = unit.now()
    await unit.session.flush()
    if user.pending_admin_approval:
        await notices.approval_requested(unit, user=user)
        return SignUpStatus.ADMIN_APPROVAL_REQUIRED
    return SignUpStatus.ACTIVE


async def resend_verification_email(unit: Unit, *, email: str) -> None:
    """Mail a fresh verification link to an unverified account's address. The answer is the
    same for every address (known, unknown, verified, just sent); MAIL_DISABLED when the
    server cannot send mail at all (equally for every address)."""
    address = check_address(email)
    require_mail(unit)
    user = await user_rows.get_by_email(unit.session, address)
    if user is None or user.email_verified or not user.active:
        return
    purpose = TokenPurpose.EMAIL_VERIFICATION
    if await ott.issued_recently(unit, user_id=user.id, purpose=purpose, within=RESEND_COOLDOWN):
        return
    await send_verification(unit, user=user)
