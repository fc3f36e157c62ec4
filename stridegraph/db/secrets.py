"""Explicit reads of a user's secrets: the password hash and the (encrypted) MFA secret.

Both columns are deferred with ``raiseload`` on :class:`~stridegraph.db.models.User`: a
``select(User)`` never reads them, and touching one that was not asked for raises instead of
loading it quietly. So the hot paths (the viewer lookup on every request, listings) never
carry a password hash or an MFA secret, and the few operations that check one say so here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Label, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from stridegraph.db.models import User


def public_columns(prefix: str = "") -> list[Label[Any]]:
    """Every user column but the deferred secrets, labelled ``prefix`` + attribute name: what
    a Core read of users (the viewer lookup, listings) selects instead of the entity."""
    return [
        attr.columns[0].label(f"{prefix}{attr.key}")
        for attr in User.__mapper__.column_attrs
        if not attr.deferred
    ]


#: Load option for a lookup that goes on to check the password (login), so it costs no
#: second statement.
WITH_PASSWORD_HASH = undefer(User.password_hash)
#: Load option for reading users together with their MFA secret (key rotation).
WITH_MFA_SECRET = undefer(User.mfa_secret)


async def password_hash_of(session: AsyncSession, user_id: int) -> str | None:
    """The user's password hash (None without a password, or without such a user)."""
    return await session.scalar(select(User.password_hash).where(User.id == user_id))


async def mfa_secret_of(session: AsyncSession, user_id: int) -> str | None:
    """The user's encrypted TOTP secret (None while MFA is off)."""
    return await session.scalar(select(User.mfa_secret).where(User.id == user_id))
