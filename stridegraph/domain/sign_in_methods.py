"""How many ways an account has to sign in: its password, its passkeys and its linked
identities (OpenID Connect providers).

The rule "never remove the last sign-in method" reads this count: a user without a password,
a passkey or a linked identity would be locked out of their own account, with only an
administrator to let them back in.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db import identities as identity_rows
from stridegraph.db import passkeys as passkey_rows
from stridegraph.db.secrets import password_hash_of
from stridegraph.domain.errors import DomainError, ErrorCode


async def sign_in_methods(session: AsyncSession, *, user_id: int) -> int:
    """The password (when set), plus every passkey, plus every linked identity."""
    has_password = await password_hash_of(session, user_id) is not None
    passkeys = await passkey_rows.count_for_user(session, user_id)
    return int(has_password) + passkeys + await identity_rows.count_links(session, user_id)


async def require_another(session: AsyncSession, *, user_id: int, field: str | None) -> None:
    """Refuse (LAST_SIGN_IN_METHOD) to remove one method when it is the only one left."""
    if await sign_in_methods(session, user_id=user_id) <= 1:
        raise DomainError.of(
            ErrorCode.LAST_SIGN_IN_METHOD,
            "This is your only way to sign in: set a password, add a passkey or link an "
            "identity provider first.",
            field,
        )
