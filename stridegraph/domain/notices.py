"""Mail the service sends about accounts, queued only once the transaction commits.

Other domain modules call these; they build the message (language from the user's preferred
language where a translation exists, English otherwise; links from PUBLIC_URL) and hand it to
the mailer via ``unit.after_commit``. With mail disabled they do nothing.

INTERFACE STUBS: filled in by the mail/sign-up work (issue 5). Signatures are fixed.
"""

from __future__ import annotations

from stridegraph.db.models import User
from stridegraph.domain.unit import Unit


async def account_approved(unit: Unit, *, user: User) -> None:
    """Tell a user an administrator approved their account (``approveUser``)."""


async def set_password_link(unit: Unit, *, user: User) -> None:
    """Mail a link to set a first password (``createUser`` without a password)."""


async def mfa_changed(unit: Unit, *, user: User, change: str) -> None:
    """Tell a user MFA was ``enabled``, ``disabled`` or ``reset`` by an administrator."""
