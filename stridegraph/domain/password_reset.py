"""Password reset by mailed link: request, admin-sent link, and the reset itself.

``requestPasswordReset`` answers the same, in comparable time, for every address: known or
not, active or not, just mailed or not. Both paths run the same statements (look up the
address, check when the last link went out, retire older links), and neither waits for SMTP
(the message is queued after the commit). With mail disabled it answers MAIL_DISABLED,
equally for every address, and ``serverSettings.mailEnabled`` says so beforehand.

A reset link is single use, lives 1 hour (the set-password link of an admin-created account,
72 hours), only works while the account still has the address it was mailed to, and a newer
link retires the older ones. A reset ends every session and API token of the user: it
says someone else may know the old password.
"""

from __future__ import annotations

from stridegraph.db import one_time_tokens as token_rows
from stridegraph.db import users as user_rows
from stridegraph.db.enums import TokenPurpose
from stridegraph.db.models import User
from stridegraph.domain import credentials, notices, ratelimit
from stridegraph.domain import one_time_tokens as ott
from stridegraph.domain import security_events as events
from stridegraph.domain.accounts import owns_address, set_password
from stridegraph.domain.admin import not_found, require_admin
from stridegraph.domain.security_events import EventType
from stridegraph.domain.signup import RESEND_COOLDOWN, check_address, require_mail
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer

PURPOSE = TokenPurpose.PASSWORD_RESET
#: Nobody's id: the unknown-address path runs the known path's statements against it.
NOBODY = 0


async def _mail_link(unit: Unit, user: User) -> None:
    token = await ott.create(unit, user_id=user.id, purpose=PURPOSE, address=user.email)
    await notices.password_reset_link(unit, user=user, token=token)


async def request_password_reset(
    unit: Unit, *, email: str, client_address: str = "unknown"
) -> None:
    """Mail a reset link when an active account has this address; otherwise do the same
    database work and mail nothing. TOO_MANY_ATTEMPTS beyond ``RESET_MAX_PER_ADDRESS``
    requests from one client address (whatever address they name)."""
    address = check_address(email)
    require_mail(unit)
    await ratelimit.count_request(
        unit,
        action="reset",
        client_address=client_address,
        limit=unit.settings.reset_max_per_address,
    )
    user = await user_rows.get_by_email(unit.session, address)
    target = user if user is not None and user.active else None
    recent = await ott.issued_recently(
        unit, user_id=target.id if target else NOBODY, purpose=PURPOSE, within=RESEND_COOLDOWN
    )
    if target is None or recent:
        await _same_work_as_issuing(unit)
        return
    await _mail_link(unit, target)


async def _same_work_as_issuing(unit: Unit) -> None:
    """The statements issuing a link runs before its insert, against nobody's tokens."""
    now = unit.now()
    await token_rows.invalidate(unit.session, user_id=NOBODY, purposes=(PURPOSE,), now=now)
    await token_rows.delete_spent(unit.session, user_id=NOBODY, now=now)


async def send_password_reset_email(unit: Unit, *, viewer: Viewer | None, user_id: int) -> User:
    """An administrator mails a user a reset link (no cool-down: an admin asks on purpose)."""
    require_admin(viewer)
    require_mail(unit)
    user = await user_rows.get_by_id(unit.session, user_id)
    if user is None:
        raise not_found()
    await _mail_link(unit, user)
    await events.record(
        unit, type=EventType.ADMIN_PASSWORD_RESET_SENT, subject_id=user.id, viewer=viewer
    )
    return user


async def reset_password(unit: Unit, *, token: str, new_password: str) -> User:
    """Set a new password with a reset (or set-password) link, then end every session and
    API token.

    INVALID_TOKEN for anything but a live link of this kind for the account's current
    address; the password policy of the account's role applies. On any error nothing
    changes, the link included."""
    row = await ott.consume(unit, token=token, purpose=PURPOSE)
    user = await user_rows.get_by_id(unit.session, row.user_id)
    if user is None or not user.active or not owns_address(user, row.new_email):
        raise ott.invalid_token()
    await set_password(unit, user=user, password=new_password, field="new_password")
    await ott.invalidate(
        unit, user_id=user.id, purposes=(TokenPurpose.PASSWORD_RESET, TokenPurpose.EMAIL_CHANGE)
    )
    await credentials.end_all(unit, user_id=user.id)
    await notices.password_changed(unit, user=user)
    await events.record(unit, type=EventType.PASSWORD_RESET, subject_id=user.id, actor_id=user.id)
    return user
