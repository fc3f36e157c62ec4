"""Changing one's own e-mail address: request with the current password, confirm by a link
mailed to the new address (proving it), then tell the old address.

EMAIL_TAKEN is checked when asking and again when confirming (someone may have taken the
address in between; the unique index decides under concurrency). Until confirmed, the
current address stays in use. The new address is kept on the one-time token, not on the
user, so a newer request simply retires the older link.
"""

from __future__ import annotations

from stridegraph.db import users as user_rows
from stridegraph.db.enums import TokenPurpose
from stridegraph.db.keys import email_key
from stridegraph.db.models import User
from stridegraph.domain import notices, reauth
from stridegraph.domain import one_time_tokens as ott
from stridegraph.domain import security_events as events
from stridegraph.domain.access import require
from stridegraph.domain.accounts import owns_address, taken
from stridegraph.domain.errors import DomainError, ErrorCode, Unauthenticated
from stridegraph.domain.security_events import EventType
from stridegraph.domain.signup import check_address, require_mail
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer


def _email_taken(field: str | None) -> DomainError:
    return DomainError.of(ErrorCode.EMAIL_TAKEN, "This e-mail address is in use.", field)


async def _current_user(unit: Unit, viewer: Viewer) -> User:
    user = await user_rows.get_by_id(unit.session, viewer.user_id)
    if user is None:  # deleted since the token was checked
        raise Unauthenticated("You must be signed in.")
    return user


async def request_email_change(
    unit: Unit,
    *,
    viewer: Viewer | None,
    new_email: str,
    proof: reauth.Proof,
) -> None:
    """Mail a confirmation link to ``new_email`` once ``proof`` (the current password,
    and a code when given) is right, through the recent-authentication rule: a wrong password counts
    toward the account's login rate limit, as in ``changePassword``, so a stolen session
    cannot become a way to guess the password."""
    viewer = require(viewer)
    address = check_address(new_email, "new_email")
    require_mail(unit, "new_email")
    user = await _current_user(unit, viewer)
    await reauth.require_recent_auth(unit, viewer=viewer, proof=proof)
    if owns_address(user, address):
        raise DomainError.of(ErrorCode.INVALID, "This is already your address.", "new_email")
    if await user_rows.email_taken(unit.session, address, exclude_id=user.id):
        raise _email_taken("new_email")
    token = await ott.create(
        unit, user_id=user.id, purpose=TokenPurpose.EMAIL_CHANGE, address=address
    )
    await notices.email_change_link(unit, user=user, new_email=address, token=token)
    await events.record(
        unit, type=EventType.EMAIL_CHANGE_REQUESTED, subject_id=user.id, viewer=viewer
    )


async def confirm_email_change(unit: Unit, *, viewer: Viewer | None, token: str) -> User:
    """Switch to the address the link was mailed to. Only the account that asked can use
    the link (another user's token is INVALID_TOKEN). The new address counts as verified,
    links mailed to the old address stop working, and the old address is told."""
    viewer = require(viewer)
    row = await ott.consume(
        unit, token=token, purpose=TokenPurpose.EMAIL_CHANGE, user_id=viewer.user_id
    )
    user = await _current_user(unit, viewer)
    new_email = row.new_email
    if not new_email:
        raise ott.invalid_token()
    if await user_rows.email_taken(unit.session, new_email, exclude_id=user.id):
        raise _email_taken(None)
    old_email = user.email
    user.email = new_email
    user.email_verified = True
    user.updated_at = unit.now()
    try:
        await user_rows.flush_unique(unit.session)
    except user_rows.UniqueViolation as exc:
        raise taken(exc.column) from None
    await ott.invalidate(
        unit,
        user_id=user.id,
        purposes=(
            TokenPurpose.EMAIL_CHANGE,
            TokenPurpose.EMAIL_VERIFICATION,
            TokenPurpose.PASSWORD_RESET,
        ),
    )
    if email_key(old_email) != email_key(new_email):
        await notices.email_changed(unit, user=user, old_email=old_email)
    await events.record(
        unit, type=EventType.EMAIL_CHANGE_CONFIRMED, subject_id=user.id, viewer=viewer
    )
    return user
