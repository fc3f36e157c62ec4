"""Server-wide settings (sign-up, verification, approval, public profiles, password policy)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stridegraph.db import settings as settings_rows
from stridegraph.db.enums import PasswordPolicy
from stridegraph.db.models import ServerSettings
from stridegraph.domain import security_events as events
from stridegraph.domain.admin import require_admin
from stridegraph.domain.errors import Collector, ErrorCode
from stridegraph.domain.security_events import EventType
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer


@dataclass(frozen=True)
class EffectiveSettings:
    """The stored settings as they apply: with mail disabled, sign-up cannot require e-mail
    verification, and the answer says so rather than pretending."""

    signup_enabled: bool
    signup_require_email_verification: bool
    signup_require_admin_approval: bool
    public_profiles: bool
    password_policy: PasswordPolicy
    password_min_length_regular: int
    password_min_length_admin: int
    mail_enabled: bool


def effective(row: ServerSettings, *, mail_enabled: bool) -> EffectiveSettings:
    return EffectiveSettings(
        signup_enabled=row.signup_enabled,
        signup_require_email_verification=row.signup_require_email_verification and mail_enabled,
        signup_require_admin_approval=row.signup_require_admin_approval,
        public_profiles=row.public_profiles,
        password_policy=row.password_policy,
        password_min_length_regular=row.password_min_length_regular,
        password_min_length_admin=row.password_min_length_admin,
        mail_enabled=mail_enabled,
    )


async def get_settings(unit: Unit) -> EffectiveSettings:
    row = await settings_rows.get(unit.session)
    return effective(row, mail_enabled=unit.services.mailer.enabled)


SETTING_FIELDS = (
    "signup_enabled",
    "signup_require_email_verification",
    "signup_require_admin_approval",
    "public_profiles",
    "password_policy",
    "password_min_length_regular",
    "password_min_length_admin",
)
#: Below 8 a password is guessable (NIST SP 800-63B); above the hashing cap, unsatisfiable.
MIN_LENGTH_RANGE = (8, 128)


async def update_server_settings(
    unit: Unit, *, viewer: Viewer | None, changes: Mapping[str, Any]
) -> EffectiveSettings:
    """Change the settings present in ``changes`` (admins with ``users:write``).

    ``signupRequireEmailVerification`` is stored as given even while mail is disabled; the
    effective value shown stays false until mail is configured."""
    require_admin(viewer)
    wanted = {k: v for k, v in changes.items() if k in SETTING_FIELDS}
    errors = Collector()
    low, high = MIN_LENGTH_RANGE
    for key, value in wanted.items():
        if value is None:
            errors.add(ErrorCode.REQUIRED, f"{key} cannot be null.", key)
        elif key.startswith("password_min_length") and not low <= value <= high:
            errors.add(ErrorCode.OUT_OF_RANGE, f"{key} must be between {low} and {high}.", key)
    errors.raise_if_any()
    row = await settings_rows.get(unit.session)
    for key, value in wanted.items():
        setattr(row, key, value)
    row.updated_at = unit.now()
    await unit.session.flush()
    await events.record(
        unit,
        type=EventType.SERVER_SETTINGS_CHANGED,
        subject_id=None,
        viewer=viewer,
        detail={"fields": sorted(wanted)},
    )
    return effective(row, mail_enabled=unit.services.mailer.enabled)
