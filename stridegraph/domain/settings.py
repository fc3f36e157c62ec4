"""Server-wide settings (sign-up, verification, approval, public profiles, password policy)."""

from __future__ import annotations

from dataclasses import dataclass

from stridegraph.db import settings as settings_rows
from stridegraph.db.enums import PasswordPolicy
from stridegraph.db.models import ServerSettings
from stridegraph.domain.unit import Unit


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
