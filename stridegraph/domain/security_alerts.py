"""Security mail to the account's owner: a sign-in from a new device or address, a password
change, MFA turned off, a new API token, passkey or identity; and the per-kind opt-outs.

Each mail goes through the outbox in the action's transaction (``domain/notices.py``), in the
user's language, and links to the SPA's security page (:data:`SECURITY_PATH`), which lists
``mySessions`` and revokes with ``revokeSession`` / ``revokeApiToken``. Users can turn off
the kinds in :data:`OPTIONAL` (``updateSecurityNotifications``); the password and MFA mails
always go, since they are the ones a takeover would want to silence.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable

from stridegraph.db import notification_opt_outs as opt_out_rows
from stridegraph.db.models import User
from stridegraph.domain import notices
from stridegraph.domain import security_events as events
from stridegraph.domain.security_events import EventType, SignInMethod
from stridegraph.domain.unit import Origin, Unit
from stridegraph.domain.viewer import Viewer

#: The SPA page that shows ``mySessions`` and ``myApiTokens`` with their revoke buttons.
SECURITY_PATH = "/account/security"


class Alert(enum.Enum):
    """A kind of security mail."""

    NEW_SIGN_IN = "NEW_SIGN_IN"
    API_TOKEN = "API_TOKEN"
    PASSKEY = "PASSKEY"
    IDENTITY = "IDENTITY"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    MFA_DISABLED = "MFA_DISABLED"


#: The kinds a user may turn off; the others always go.
OPTIONAL = (Alert.NEW_SIGN_IN, Alert.API_TOKEN, Alert.PASSKEY, Alert.IDENTITY)
#: The template of each credential kind's "added" mail.
_ADDED_TEMPLATE = {
    Alert.API_TOKEN: "api_token_added",
    Alert.PASSKEY: "passkey_added",
    Alert.IDENTITY: "identity_linked",
}


def security_link(unit: Unit) -> str:
    return f"{unit.settings.public_url}{SECURITY_PATH}"


async def wants(unit: Unit, *, user_id: int, kind: Alert) -> bool:
    """Whether the user gets mail of ``kind`` (always for the kinds that cannot be off)."""
    if kind not in OPTIONAL:
        return True
    return kind.value not in await opt_out_rows.for_user(unit.session, user_id)


async def opted_out(unit: Unit, *, viewer: Viewer) -> list[Alert]:
    """The viewer's turned-off kinds."""
    stored = await opt_out_rows.for_user(unit.session, viewer.user_id)
    return [kind for kind in OPTIONAL if kind.value in stored]


async def set_opt_outs(unit: Unit, *, viewer: Viewer, off: Iterable[Alert]) -> list[Alert]:
    """Replace the viewer's opt-outs with ``off``; kinds that cannot be turned off are
    ignored (they are not choices). Recorded as a settings change."""
    chosen = [kind for kind in OPTIONAL if kind in set(off)]
    await opt_out_rows.replace(unit.session, viewer.user_id, [k.value for k in chosen])
    await events.record(
        unit,
        type=EventType.NOTIFICATION_SETTINGS_CHANGED,
        subject_id=viewer.user_id,
        viewer=viewer,
        detail={"off": [k.value for k in chosen]},
    )
    return chosen


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


async def signed_in(unit: Unit, *, user: User, session_id: int, method: SignInMethod) -> None:
    """Record a successful sign-in (it opened ``session_id``) and, when it comes from a
    new device or address (``security_events.is_new_device``), mail the owner."""
    since = unit.now() - dt.timedelta(seconds=unit.settings.retention_security_events_seconds)
    new = await events.is_new_device(unit, user_id=user.id, since=since)
    await events.record(
        unit,
        type=EventType.SIGN_IN_SUCCEEDED,
        subject_id=user.id,
        actor_id=user.id,
        session_id=session_id,
        detail={"method": method, "newDevice": new},
    )
    if new and await wants(unit, user_id=user.id, kind=Alert.NEW_SIGN_IN):
        origin = unit.origin or Origin()
        notices.to_user(
            unit,
            user,
            "new_sign_in",
            device=await events.user_agent_summary(origin.user_agent) or "?",
            address=origin.client_address or "?",
            time=_when(unit.now()),
            link=security_link(unit),
        )


async def password_changed(unit: Unit, *, user: User) -> None:
    """The password changed (``changePassword``): always mailed."""
    await notices.password_changed(unit, user=user)


async def credential_added(unit: Unit, *, user: User, kind: Alert, name: str) -> None:
    """A new API token, passkey or identity was added to ``user``'s account: mailed unless
    the user turned that kind off. Passkeys and identities call it with their kind."""
    if not await wants(unit, user_id=user.id, kind=kind):
        return
    notices.to_user(
        unit,
        user,
        _ADDED_TEMPLATE[kind],
        credential=name,
        time=_when(unit.now()),
        link=security_link(unit),
    )
