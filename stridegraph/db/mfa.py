"""SQL for multi-factor authentication: the MFA columns of ``users``, backup codes and the
MFA-login one-time tokens.

State changes are conditional UPDATEs whose row count says whether they happened, so two
concurrent requests (any worker, either database) cannot both enable MFA, both accept the same
TOTP time step, both spend one backup code or both use one MFA-login token.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.enums import TokenPurpose
from stridegraph.db.models import MfaBackupCode, OneTimeToken, User
from stridegraph.db.secrets import WITH_MFA_SECRET


def _changed(result: object) -> bool:
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def set_pending_secret(session: AsyncSession, user_id: int, ciphertext: str) -> bool:
    """Store a new secret awaiting confirmation, unless MFA is already on."""
    result = await session.execute(
        update(User)
        .where(User.id == user_id, User.mfa_enabled.is_(False))
        .values(mfa_pending_secret=ciphertext)
    )
    return _changed(result)


async def enable(
    session: AsyncSession, user_id: int, *, pending: str, ciphertext: str, step: int
) -> bool:
    """Turn MFA on with the secret the user confirmed; false when it was on already or the
    pending secret changed meanwhile (a second ``setupMfa``)."""
    result = await session.execute(
        update(User)
        .where(
            User.id == user_id,
            User.mfa_enabled.is_(False),
            User.mfa_pending_secret == pending,
        )
        .values(
            mfa_enabled=True,
            mfa_secret=ciphertext,
            mfa_pending_secret=None,
            mfa_last_used_step=step,
        )
    )
    return _changed(result)


async def disable(session: AsyncSession, user_id: int) -> bool:
    """Turn MFA off and forget every secret; false when it was off already."""
    result = await session.execute(
        update(User)
        .where(User.id == user_id, User.mfa_enabled.is_(True))
        .values(
            mfa_enabled=False,
            mfa_secret=None,
            mfa_pending_secret=None,
            mfa_last_used_step=None,
        )
    )
    if not _changed(result):
        return False
    await delete_backup_codes(session, user_id)
    return True


async def claim_step(session: AsyncSession, user_id: int, step: int) -> bool:
    """Record ``step`` as the last accepted TOTP time step, only if it is newer than the one
    stored: false means the code (or an older one) was accepted before, i.e. a replay."""
    result = await session.execute(
        update(User)
        .where(
            User.id == user_id,
            User.mfa_enabled.is_(True),
            (User.mfa_last_used_step.is_(None)) | (User.mfa_last_used_step < step),
        )
        .values(mfa_last_used_step=step)
    )
    return _changed(result)


async def delete_backup_codes(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(MfaBackupCode).where(MfaBackupCode.user_id == user_id))


async def replace_backup_codes(
    session: AsyncSession, user_id: int, code_hashes: Sequence[bytes], now: dt.datetime
) -> None:
    """Drop the user's old codes (used or not) and store the new digests."""
    await delete_backup_codes(session, user_id)
    session.add_all(
        MfaBackupCode(user_id=user_id, code_hash=h, created_at=now) for h in code_hashes
    )
    await session.flush()


async def use_backup_code(
    session: AsyncSession, user_id: int, code_hash: bytes, now: dt.datetime
) -> bool:
    """Spend an unused backup code; false when there is none with this digest."""
    row_id = await session.scalar(
        select(MfaBackupCode.id)
        .where(
            MfaBackupCode.user_id == user_id,
            MfaBackupCode.code_hash == code_hash,
            MfaBackupCode.used_at.is_(None),
        )
        .limit(1)
    )
    if row_id is None:
        return False
    result = await session.execute(
        update(MfaBackupCode)
        .where(MfaBackupCode.id == row_id, MfaBackupCode.used_at.is_(None))
        .values(used_at=now)
    )
    return _changed(result)


async def unused_backup_codes(session: AsyncSession, user_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(MfaBackupCode)
        .where(MfaBackupCode.user_id == user_id, MfaBackupCode.used_at.is_(None))
    )
    return int(count or 0)


def add_login_token(session: AsyncSession, row: OneTimeToken) -> OneTimeToken:
    session.add(row)
    return row


async def find_login_token(
    session: AsyncSession, token_hash: bytes, now: dt.datetime
) -> tuple[OneTimeToken, User] | None:
    """The unused, unexpired MFA-login token with this digest and its user, in one statement."""
    row = (
        await session.execute(
            select(OneTimeToken, User)
            .join(User, User.id == OneTimeToken.user_id)
            .where(
                OneTimeToken.token_hash == token_hash,
                OneTimeToken.purpose == TokenPurpose.MFA_LOGIN,
                OneTimeToken.used_at.is_(None),
                OneTimeToken.expires_at > now,
            )
        )
    ).first()
    return (row[0], row[1]) if row else None


async def use_login_token(session: AsyncSession, token_id: int, now: dt.datetime) -> bool:
    """Spend an MFA-login token; false when another request used it first."""
    result = await session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == token_id, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
    )
    return _changed(result)


async def delete_login_tokens(session: AsyncSession, user_id: int) -> None:
    """Forget outstanding MFA-login tokens (MFA was turned off: they must not be usable)."""
    await session.execute(
        delete(OneTimeToken).where(
            OneTimeToken.user_id == user_id, OneTimeToken.purpose == TokenPurpose.MFA_LOGIN
        )
    )


async def delete_stale_login_tokens(session: AsyncSession, user_id: int, now: dt.datetime) -> None:
    """Forget the user's used or expired MFA-login tokens (they only take up room)."""
    await session.execute(
        delete(OneTimeToken).where(
            OneTimeToken.user_id == user_id,
            OneTimeToken.purpose == TokenPurpose.MFA_LOGIN,
            (OneTimeToken.used_at.is_not(None)) | (OneTimeToken.expires_at <= now),
        )
    )


async def users_with_secrets(session: AsyncSession) -> list[User]:
    """Every user holding an MFA secret, active or pending (for key rotation)."""
    rows = await session.scalars(
        select(User)
        .options(WITH_MFA_SECRET)
        .where(User.mfa_secret.is_not(None) | User.mfa_pending_secret.is_not(None))
        .order_by(User.id)
    )
    return list(rows)
