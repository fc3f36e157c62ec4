"""What a signed-in user does to their own account: edit the profile and privacy settings,
delete the account.

The viewer's ``User`` row was loaded in this request's session when the bearer token was
resolved, so changes go to that same object (and the session flushes them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stridegraph.db import users as user_rows
from stridegraph.db.enums import AccessType
from stridegraph.db.models import HIDE_FLAGS, PrivacySettings, User
from stridegraph.domain import accounts, export, photos, reauth
from stridegraph.domain import security_events as events
from stridegraph.domain.access import require
from stridegraph.domain.admin import ensure_admin_remains
from stridegraph.domain.errors import Collector, ErrorCode, Unauthenticated
from stridegraph.domain.scopes import PROFILE_WRITE
from stridegraph.domain.security_events import EventType
from stridegraph.domain.unit import Unit
from stridegraph.domain.validation import PROFILE_FIELDS
from stridegraph.domain.viewer import Viewer

#: What ``updateMe`` may change. E-mail is not here: changing it needs a confirmation
#: (``requestEmailChange``); role and active flag are for admins.
SELF_FIELDS = tuple(f for f in PROFILE_FIELDS if f != "email")
PRIVACY_FIELDS = ("default_activity_visibility", *HIDE_FLAGS)


async def update_me(unit: Unit, *, viewer: Viewer | None, changes: Mapping[str, Any]) -> User:
    """Change the viewer's own profile fields (those present in ``changes``)."""
    me = require(viewer, scope=PROFILE_WRITE)
    wanted = {k: v for k, v in changes.items() if k in SELF_FIELDS}
    saved = await accounts.save_profile(unit, user=me.user, changes=wanted)
    await events.record(
        unit,
        type=EventType.PROFILE_UPDATED,
        subject_id=me.user_id,
        viewer=me,
        detail={"fields": sorted(wanted)},
    )
    return saved


async def update_privacy_settings(
    unit: Unit, *, viewer: Viewer | None, changes: Mapping[str, Any]
) -> PrivacySettings:
    """Change the viewer's privacy settings; every field is optional, none may be null."""
    me = require(viewer, scope=PROFILE_WRITE)
    wanted = {k: v for k, v in changes.items() if k in PRIVACY_FIELDS}
    errors = Collector()
    for key, value in wanted.items():
        if value is None:
            errors.add(ErrorCode.REQUIRED, f"{key} cannot be null.", key)
    errors.raise_if_any()
    row = (await user_rows.privacy_for(unit.session, [me.user_id])).get(me.user_id)
    if row is None:  # an account made before the row existed: create it now
        row = PrivacySettings(user_id=me.user_id)
        unit.session.add(row)
    for key, value in wanted.items():
        setattr(row, key, value)
    await unit.session.flush()
    await events.record(
        unit,
        type=EventType.PRIVACY_SETTINGS_CHANGED,
        subject_id=me.user_id,
        viewer=me,
        detail={"fields": sorted(wanted)},
    )
    return row


async def delete_me(
    unit: Unit,
    *,
    viewer: Viewer | None,
    proof: reauth.Proof,
) -> int:
    """Delete the viewer's account and everything it owns, after checking ``proof`` (the
    password, and a code when given) through the recent-authentication rule (a wrong one
    counts toward the login rate limit).

    The last active admin cannot leave (LAST_ADMIN); the photo file goes after commit."""
    me = require(viewer, scope=PROFILE_WRITE)
    await reauth.require_recent_auth(unit, viewer=me, proof=proof, proof_field="password")
    if me.user.access_type is AccessType.ADMIN:
        await user_rows.lock_admin_changes(unit.session)
        user = await user_rows.reload(unit.session, me.user_id)
        if user is None:
            raise Unauthenticated("This account no longer exists.")
        await ensure_admin_remains(unit, removing=user, viewer=me)
    photos.discard_after_commit(unit, user=me.user)
    await export.discard_for_user(unit, user_id=me.user_id)
    await user_rows.delete_user(unit.session, me.user_id)
    return me.user_id
