"""SQL for passkeys: the credentials, the per-account user handle, and ceremonies in progress."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db import single_use
from stridegraph.db.models import Passkey, PasskeyChallenge, PasskeyUserHandle

# --------------------------------------------------------------------------- user handles


async def handle_of(session: AsyncSession, user_id: int) -> bytes | None:
    return await session.scalar(
        select(PasskeyUserHandle.handle).where(PasskeyUserHandle.user_id == user_id)
    )


async def add_handle(session: AsyncSession, *, user_id: int, handle: bytes) -> None:
    session.add(PasskeyUserHandle(user_id=user_id, handle=handle))
    await session.flush()


# --------------------------------------------------------------------------- credentials


async def list_for_user(session: AsyncSession, user_id: int) -> Sequence[Passkey]:
    """A user's passkeys, oldest first (the order they were added in)."""
    result = await session.scalars(
        select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)
    )
    return result.all()


async def count_for_user(session: AsyncSession, user_id: int) -> int:
    return int(await session.scalar(select(func.count()).where(Passkey.user_id == user_id)) or 0)


async def get_for_user(session: AsyncSession, *, passkey_id: int, user_id: int) -> Passkey | None:
    return await session.scalar(
        select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user_id)
    )


async def get_by_credential_id(session: AsyncSession, credential_id: bytes) -> Passkey | None:
    return await session.scalar(select(Passkey).where(Passkey.credential_id == credential_id))


async def add(session: AsyncSession, row: Passkey) -> Passkey:
    session.add(row)
    await session.flush()
    return row


async def delete_one(session: AsyncSession, row: Passkey) -> None:
    await session.delete(row)
    await session.flush()


async def delete_for_user(session: AsyncSession, user_id: int) -> int:
    result = await session.execute(
        delete(Passkey)
        .where(Passkey.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def record_use(
    session: AsyncSession,
    *,
    passkey_id: int,
    seen_count: int,
    new_count: int,
    backed_up: bool,
    now: dt.datetime,
) -> bool:
    """Store a sign-in's counter, only if the counter is still the one the check saw: of two
    concurrent sign-ins with the same counter value (a cloned authenticator racing the
    original) only one gets through. False when the row changed meanwhile."""
    result = await session.execute(
        update(Passkey)
        .where(Passkey.id == passkey_id, Passkey.sign_count == seen_count)
        .values(sign_count=new_count, backed_up=backed_up, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- challenges


async def add_challenge(session: AsyncSession, row: PasskeyChallenge) -> None:
    session.add(row)
    await session.flush()


async def find_challenge(
    session: AsyncSession, *, challenge_hash: bytes, purpose: str, now: dt.datetime
) -> PasskeyChallenge | None:
    """The live challenge with this digest and purpose, without using it up."""
    return await session.scalar(
        select(PasskeyChallenge).where(
            PasskeyChallenge.challenge_hash == challenge_hash,
            PasskeyChallenge.purpose == purpose,
            PasskeyChallenge.used_at.is_(None),
            PasskeyChallenge.expires_at > now,
        )
    )


async def consume_challenge(
    session: AsyncSession, *, challenge_hash: bytes, purpose: str, now: dt.datetime
) -> PasskeyChallenge | None:
    """Mark the live challenge with this digest and purpose used and return it; None when
    there is none (``db/single_use.take``: of two concurrent uses only one gets it)."""
    return await single_use.take(
        session,
        PasskeyChallenge,
        PasskeyChallenge.challenge_hash,
        challenge_hash,
        purpose=purpose,
        now=now,
    )


async def delete_expired_challenges(session: AsyncSession, *, now: dt.datetime) -> None:
    """Housekeeping when a ceremony starts: ceremonies that ran out are of no further use."""
    await session.execute(
        delete(PasskeyChallenge)
        .where(PasskeyChallenge.expires_at <= now)
        .execution_options(synchronize_session=False)
    )
