"""How many ways a user has to sign in, for the rule that the last one is never removed.

Here: the password and linked external identities (passkeys count too once they exist).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db import identities as identity_rows
from stridegraph.db.secrets import password_hash_of


async def sign_in_methods(session: AsyncSession, *, user_id: int) -> int:
    """The password (when set) plus each linked identity."""
    has_password = await password_hash_of(session, user_id) is not None
    return int(has_password) + await identity_rows.count_links(session, user_id)
