"""Multi-factor authentication (TOTP + backup codes).

INTERFACE STUBS used by login (issue 5); filled in by the MFA work (issue 6). Signatures are
fixed.
"""

from __future__ import annotations

from stridegraph.db.models import User
from stridegraph.domain.unit import Unit


async def start_challenge(unit: Unit, *, user: User) -> str:
    """Called by ``login`` after a correct password when ``user.mfa_enabled``: returns a
    short-lived, single-use MFA token (no session is created yet)."""
    raise NotImplementedError
