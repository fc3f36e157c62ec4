"""What administrators do to other accounts: create, edit, set a password, approve, delete.

Two safety rules hold for every path here:
- CANNOT_MODIFY_SELF: an admin cannot deactivate, demote or delete themself (nor set their
  own password without the current one: that is ``changePassword``'s job).
- LAST_ADMIN: no change, however concurrent, leaves the server without an active admin.
  Every change that could remove an active admin first takes one serialising lock
  (:func:`stridegraph.db.users.lock_admin_changes`), then reads the admins afresh, so two
  admins demoting each other at the same moment cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stridegraph.db import api_tokens as api_token_rows
from stridegraph.db import settings as settings_rows
from stridegraph.db import users as user_rows
from stridegraph.db.enums import AccessType, TokenPurpose
from stridegraph.db.models import ApiToken, User
from stridegraph.domain import accounts, credentials, export, notices, one_time_tokens, photos
from stridegraph.domain import security_events as events
from stridegraph.domain.access import require
from stridegraph.domain.errors import DomainError, ErrorCode, Forbidden
from stridegraph.domain.scopes import USERS_READ, USERS_WRITE
from stridegraph.domain.security_events import EventType
from stridegraph.domain.unit import Unit
from stridegraph.domain.validation import PROFILE_FIELDS
from stridegraph.domain.viewer import Viewer

ADMIN_FIELDS = (*PROFILE_FIELDS, "access_type", "active", "email_verified")


def require_admin(viewer: Viewer | None, scope: str = USERS_WRITE) -> Viewer:
    """Admin mutations need the ADMIN role and ``users:write``, admin reads ``users:read``:
    :func:`stridegraph.domain.access.require` with ``admin=True`` (kept for its callers)."""
    return require(viewer, scope=scope, admin=True)


def not_found() -> DomainError:
    return DomainError.of(ErrorCode.NOT_FOUND, "There is no such user.", "id")


def cannot_modify_self(message: str, field: str | None = None) -> DomainError:
    return DomainError.of(ErrorCode.CANNOT_MODIFY_SELF, message, field)


async def ensure_admin_remains(unit: Unit, *, removing: User, viewer: Viewer) -> None:
    """Call under :func:`lock_admin_changes`, with ``removing`` read after the lock: refuse
    when ``removing`` is the last active admin; refuse a viewer who is (no longer) one, unless
    the viewer removes themself (``deleteMe``)."""
    admins = await user_rows.active_admin_ids(unit.session)
    if removing.id in admins and not admins - {removing.id}:
        raise DomainError.of(
            ErrorCode.LAST_ADMIN, "This is the last active administrator; keep at least one."
        )
    if viewer.user_id != removing.id and viewer.user_id not in admins:
        raise Forbidden("You are no longer an administrator.")


async def _target(unit: Unit, user_id: int, *, locked: bool) -> User:
    """The user to act on; read afresh when the admin lock is held."""
    if locked:
        user = await user_rows.reload(unit.session, user_id)
    else:
        user = await user_rows.get_by_id(unit.session, user_id)
    if user is None:
        raise not_found()
    return user


async def create_user(
    unit: Unit,
    *,
    viewer: Viewer | None,
    username: str,
    email: str,
    name: str,
    password: str | None = None,
    access_type: AccessType = AccessType.REGULAR,
    active: bool = True,
    profile: Mapping[str, Any] | None = None,
) -> User:
    """Create an account. An admin vouches for it: it counts as verified and approved.
    Without a password the user is mailed a link to set one, so mail must be enabled."""
    require_admin(viewer)
    if password is None and not unit.services.mailer.enabled:
        raise DomainError.of(
            ErrorCode.MAIL_DISABLED,
            "Mail is disabled on this server, so no link can be sent: give a password.",
            "password",
        )
    account = accounts.NewAccount(
        username=username.strip(),
        email=email.strip(),
        name=name.strip(),
        password=password,
        access_type=access_type,
        active=active,
        email_verified=True,
        profile=dict(profile or {}),
    )
    user = await accounts.create_account(unit, account=account)
    if password is None:
        await notices.set_password_link(unit, user=user)
    await events.record(
        unit,
        type=EventType.ADMIN_USER_CREATED,
        subject_id=user.id,
        viewer=viewer,
        detail={"accessType": access_type, "passwordGiven": password is not None},
    )
    return user


async def update_user(
    unit: Unit, *, viewer: Viewer | None, user_id: int, changes: Mapping[str, Any]
) -> User:
    """Edit profile fields, e-mail, role, active flag and e-mail verification of any account.

    ``email_verified`` lets an administrator vouch for an address (the seed's "activate"):
    with ``active`` in the same call, an unverified sign-up can sign in at once, and any
    verification link still out is void. An account that does not own its address (a
    sign-up with a taken one, ``domain/signup.py``) cannot be verified until it is given an
    address of its own (EMAIL_TAKEN), and an admin cannot unverify themself."""
    admin = require_admin(viewer)
    wanted = {k: v for k, v in changes.items() if k in ADMIN_FIELDS}
    demotes = wanted.get("access_type") is AccessType.REGULAR
    deactivates = wanted.get("active") is False
    if user_id == admin.user_id and demotes:
        raise cannot_modify_self("You cannot demote yourself.", "access_type")
    if user_id == admin.user_id and deactivates:
        raise cannot_modify_self("You cannot deactivate yourself.", "active")
    if user_id == admin.user_id and wanted.get("email_verified") is False:
        raise cannot_modify_self("You cannot unverify your own address.", "email_verified")
    removes_admin = demotes or deactivates
    if removes_admin:
        await user_rows.lock_admin_changes(unit.session)
    user = await _target(unit, user_id, locked=removes_admin)
    if removes_admin:
        await ensure_admin_remains(unit, removing=user, viewer=admin)
    reactivates = wanted.get("active") is True and not user.active
    verifies = wanted.get("email_verified") is True and not user.email_verified
    if verifies and user.email_key is None and "email" not in wanted:
        raise DomainError.of(
            ErrorCode.EMAIL_TAKEN,
            "This account's address belongs to another account; give it its own first.",
            "email_verified",
        )
    saved = await accounts.save_profile(unit, user=user, changes=wanted)
    if verifies:
        await one_time_tokens.invalidate(
            unit, user_id=saved.id, purposes=(TokenPurpose.EMAIL_VERIFICATION,)
        )
    if deactivates or reactivates:
        # Deactivation ends every credential for good. Reactivation ends any left over from
        # a deactivation made before that rule, so none comes back to life either way.
        await credentials.end_all(unit, user_id=saved.id)
    await events.record(
        unit,
        type=EventType.ADMIN_USER_UPDATED,
        subject_id=saved.id,
        viewer=admin,
        detail={"fields": sorted(wanted)},
    )
    return saved


async def set_user_password(
    unit: Unit, *, viewer: Viewer | None, user_id: int, password: str
) -> User:
    """Set another user's password (policy of the target's role) and end their sessions and
    API tokens: an administrator does this when the account may be in the wrong hands."""
    admin = require_admin(viewer)
    if user_id == admin.user_id:
        raise cannot_modify_self(
            "Change your own password with changePassword (it asks for the current one).", "id"
        )
    user = await _target(unit, user_id, locked=False)
    await accounts.set_password(unit, user=user, password=password)
    await credentials.end_all(unit, user_id=user.id)
    await events.record(unit, type=EventType.ADMIN_PASSWORD_SET, subject_id=user.id, viewer=admin)
    await notices.password_changed(unit, user=user)
    return user


async def approve_user(unit: Unit, *, viewer: Viewer | None, user_id: int) -> User:
    """Approve a sign-up waiting for an admin: it becomes active. EMAIL_NOT_VERIFIED while
    the server requires verification (and can send mail) and the user has not verified.
    Approving an account that waits for nothing changes nothing (and mails nobody);
    reactivating a deactivated account is ``updateUser(active: true)``."""
    require_admin(viewer)
    user = await _target(unit, user_id, locked=False)
    stored = await settings_rows.get(unit.session)
    needs_verification = stored.signup_require_email_verification and unit.services.mailer.enabled
    if needs_verification and not user.email_verified:
        raise DomainError.of(
            ErrorCode.EMAIL_NOT_VERIFIED, "The user has not verified their e-mail address yet."
        )
    if user.pending_admin_approval:
        user.pending_admin_approval = False
        user.active = True
        user.updated_at = unit.now()
        await unit.session.flush()
        await notices.account_approved(unit, user=user)
        await events.record(
            unit, type=EventType.ADMIN_USER_APPROVED, subject_id=user.id, viewer=viewer
        )
    return user


async def delete_user(unit: Unit, *, viewer: Viewer | None, user_id: int) -> int:
    """Delete another account and everything it owns; its photo file goes after commit."""
    admin = require_admin(viewer)
    if user_id == admin.user_id:
        raise cannot_modify_self("You cannot delete yourself here; use deleteMe.", "id")
    await user_rows.lock_admin_changes(unit.session)
    user = await _target(unit, user_id, locked=True)
    await ensure_admin_remains(unit, removing=user, viewer=admin)
    photos.discard_after_commit(unit, user=user)
    await export.discard_for_user(unit, user_id=user.id)
    # about nobody: the account and all it owned are gone (README, "Verified deletion")
    await events.record(unit, type=EventType.ADMIN_USER_DELETED, subject_id=None, viewer=admin)
    await user_rows.delete_user(unit.session, user.id)
    return user_id


async def revoke_user_sessions(
    unit: Unit, *, viewer: Viewer | None, user_id: int
) -> credentials.Ended:
    """End every session and every API token of a user: "sign them out everywhere" means
    scripts too, or a stolen token would survive it."""
    require_admin(viewer)
    user = await _target(unit, user_id, locked=False)
    ended = await credentials.end_all(unit, user_id=user.id)
    await events.record(
        unit,
        type=EventType.ADMIN_SESSIONS_REVOKED,
        subject_id=user.id,
        viewer=viewer,
        detail={"sessions": ended.sessions, "apiTokens": ended.api_tokens},
    )
    return ended


async def revoke_user_api_tokens(unit: Unit, *, viewer: Viewer | None, user_id: int) -> int:
    """End every API token of a user (sessions stay); returns how many."""
    require_admin(viewer)
    user = await _target(unit, user_id, locked=False)
    count = await api_token_rows.revoke_for_user(unit.session, user.id, unit.now())
    await events.record(
        unit,
        type=EventType.ADMIN_API_TOKENS_REVOKED,
        subject_id=user.id,
        viewer=viewer,
        detail={"apiTokens": count},
    )
    return count


async def user_api_tokens(unit: Unit, *, viewer: Viewer | None, user_id: int) -> list[ApiToken]:
    """A user's unrevoked API tokens, newest first, as ``myApiTokens`` lists them (never
    the secret: only its digest is stored). An unknown user has none."""
    require_admin(viewer, USERS_READ)
    return await api_token_rows.list_for_user(unit.session, user_id)
