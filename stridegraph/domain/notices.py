"""Mail the service sends about accounts, written to the outbox in the request's transaction.

Other domain modules call these; they build the message (language from the user's preferred
language where a translation exists, English otherwise; links from PUBLIC_URL) and add it to
the outbox in the unit's transaction (``mail.queue``), so a rolled-back request mails nothing
and a committed one loses nothing; after the commit the delivery loop is only woken, so no
response waits for SMTP. With mail disabled they do nothing.

Links point at the single-page app under PUBLIC_URL, which reads ``token`` from the query and
calls the matching mutation:

- ``/verify-email?token=…`` → ``verifyEmail(token)``
- ``/reset-password?token=…`` → ``resetPassword(token, newPassword)`` (also the set-password
  link of an account an administrator created without a password)
- ``/confirm-email?token=…`` → ``confirmEmailChange(token)`` (signed in)
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from stridegraph.db import recipients
from stridegraph.db.enums import Language, TokenPurpose
from stridegraph.db.models import User
from stridegraph.domain import mail_templates, ratelimit
from stridegraph.domain import one_time_tokens as ott
from stridegraph.domain.mail import Mail, queue
from stridegraph.domain.unit import Unit

VERIFY_EMAIL_PATH = "/verify-email"
RESET_PASSWORD_PATH = "/reset-password"
CONFIRM_EMAIL_PATH = "/confirm-email"
MFA_CHANGES = ("enabled", "disabled", "reset")


def link(unit: Unit, path: str, token: str) -> str:
    return f"{unit.settings.public_url}{path}?token={quote(token, safe='')}"


def _hours(purpose: TokenPurpose) -> str:
    return str(int(ott.LIFETIMES[purpose].total_seconds() // 3600))


def _send(
    unit: Unit,
    *,
    to: str,
    kind: str,
    language: Language | None,
    values: dict[str, str],
) -> None:
    """Render now (inside the transaction, from the rows as they are) and queue the mail in
    that transaction; wake the delivery loop once it committed."""
    mailer = unit.services.mailer
    if not mailer.enabled:
        return
    public_url = unit.settings.public_url
    site = urlsplit(public_url).netloc or public_url
    rendered = mail_templates.render(
        kind, language, {"site": site, "url": public_url, **values}, public_url=public_url
    )
    mail = Mail(to=to, subject=rendered.subject, text=rendered.text, html=rendered.html, kind=kind)
    queue(unit.session, mail, public_url=public_url)
    sessions = unit.services.sessions
    unit.after_commit(lambda: mailer.wake(sessions))


def _to_user(unit: Unit, user: User, kind: str, **values: str) -> None:
    """Mail ``user`` at its address, unless the account does not own it (a sign-up with a
    taken address, ``email_key`` NULL): that address belongs to someone else."""
    if user.email_key is None:
        return
    _send(
        unit,
        to=user.email,
        kind=kind,
        language=user.preferred_language,
        values={"name": user.name, "username": user.username, **values},
    )


async def verification_link(unit: Unit, *, user: User, token: str) -> None:
    """The sign-up (or re-sent) link that proves the address."""
    _to_user(
        unit,
        user,
        "verify_email",
        link=link(unit, VERIFY_EMAIL_PATH, token),
        hours=_hours(TokenPurpose.EMAIL_VERIFICATION),
    )


async def signup_existing(unit: Unit, *, user: User) -> None:
    """Someone signed up with this account's address: say so to the owner (the sign-up itself
    answers as for a new address, so nobody learns which addresses have accounts). At most
    once per ``ratelimit.NOTICE_COOLDOWN``: repeated sign-ups must not flood the mailbox."""
    if not unit.services.mailer.enabled:
        return
    if await ratelimit.first_in_cooldown(
        unit, action="notice:signup_existing", subject=f"#{user.id}"
    ):
        _to_user(unit, user, "signup_existing")


async def approval_requested(unit: Unit, *, user: User) -> None:
    """Tell every active administrator that ``user`` awaits approval."""
    for admin in await recipients.active_admins(unit.session):
        _send(
            unit,
            to=admin.email,
            kind="approval_requested",
            language=admin.preferred_language,
            values={"name": admin.name, "username": user.username, "email": user.email},
        )


async def account_approved(unit: Unit, *, user: User) -> None:
    """Tell a user an administrator approved their account (``approveUser``)."""
    _to_user(unit, user, "account_approved")


async def password_reset_link(unit: Unit, *, user: User, token: str) -> None:
    _to_user(
        unit,
        user,
        "password_reset",
        link=link(unit, RESET_PASSWORD_PATH, token),
        minutes=str(int(ott.LIFETIMES[TokenPurpose.PASSWORD_RESET].total_seconds() // 60)),
    )


async def set_password_link(unit: Unit, *, user: User) -> None:
    """Mail a link to set a first password (``createUser`` without a password).

    The link is a password-reset token that lives :data:`ott.SET_PASSWORD_LIFETIME` (72 h)
    and is used through ``resetPassword``. With mail disabled no token is made."""
    if not unit.services.mailer.enabled:
        return
    token = await ott.create(
        unit,
        user_id=user.id,
        purpose=TokenPurpose.PASSWORD_RESET,
        lifetime=ott.SET_PASSWORD_LIFETIME,
        address=user.email,
    )
    _to_user(
        unit,
        user,
        "set_password",
        link=link(unit, RESET_PASSWORD_PATH, token),
        hours=str(int(ott.SET_PASSWORD_LIFETIME.total_seconds() // 3600)),
    )


async def password_changed(unit: Unit, *, user: User) -> None:
    """Tell a user their password changed (after ``resetPassword``; ``changePassword`` may
    call it too), so a takeover does not go unnoticed."""
    _to_user(unit, user, "password_changed")


async def email_change_link(unit: Unit, *, user: User, new_email: str, token: str) -> None:
    """The confirmation link, sent to the NEW address (it proves the new address)."""
    _send(
        unit,
        to=new_email,
        kind="email_change",
        language=user.preferred_language,
        values={
            "name": user.name,
            "username": user.username,
            "new_email": new_email,
            "link": link(unit, CONFIRM_EMAIL_PATH, token),
            "hours": _hours(TokenPurpose.EMAIL_CHANGE),
        },
    )


async def email_changed(unit: Unit, *, user: User, old_email: str) -> None:
    """Tell the OLD address that the account's address changed (``user.email`` is the new)."""
    _send(
        unit,
        to=old_email,
        kind="email_changed",
        language=user.preferred_language,
        values={
            "name": user.name,
            "username": user.username,
            "old_email": old_email,
            "new_email": user.email,
        },
    )


async def mfa_changed(unit: Unit, *, user: User, change: str) -> None:
    """Tell a user MFA was ``enabled``, ``disabled`` or ``reset`` by an administrator."""
    if change not in MFA_CHANGES:
        raise ValueError(f"unknown MFA change {change!r}")
    _to_user(unit, user, f"mfa_{change}")


def to_user(unit: Unit, user: User, kind: str, **values: str) -> None:
    """Mail ``user`` a message of ``kind`` (security alerts, export links): the same rules
    as every notice here (outbox, language, only to an address the account owns)."""
    _to_user(unit, user, kind, **values)
