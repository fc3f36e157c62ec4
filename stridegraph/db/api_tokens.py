"""SQL for personal API tokens."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from stridegraph.db.fast_read import SessionReads
from stridegraph.db.models import ApiToken, User
from stridegraph.db.viewer_lookup import ViewerLookup

#: The viewer lookup by personal API token: of the token its id, owner, scopes and last use.
_BY_TOKEN_HASH = ViewerLookup(
    ApiToken,
    (ApiToken.id, ApiToken.user_id, ApiToken.scopes, ApiToken.last_used_at),
    ApiToken.token_hash == bindparam("token_hash"),
    ApiToken.revoked_at.is_(None),
    or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > bindparam("now")),
)


async def find_active_by_hash(
    engine: AsyncEngine, reads: SessionReads, token_hash: bytes, now: dt.datetime
) -> tuple[SimpleNamespace, User] | None:
    """The live token with this hash and its user (``db/viewer_lookup``)."""
    return await _BY_TOKEN_HASH.find(engine, reads, token_hash=token_hash, now=now)


async def token_expired(session: AsyncSession, token_hash: bytes, now: dt.datetime) -> bool:
    """Whether this API token is unrevoked, of an active user, and past its expiry (asked
    only after the live lookup failed)."""
    found = await session.scalar(
        select(ApiToken.id)
        .join(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == token_hash,
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at <= now,
            User.active.is_(True),
        )
    )
    return found is not None


def add(session: AsyncSession, row: ApiToken) -> ApiToken:
    session.add(row)
    return row


async def list_for_user(session: AsyncSession, user_id: int) -> list[ApiToken]:
    rows = await session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list(rows)


async def get_unrevoked_for_user(
    session: AsyncSession, token_id: int, user_id: int
) -> ApiToken | None:
    """The user's own token with this id, unless already revoked (another user's is None)."""
    return await session.scalar(
        select(ApiToken).where(
            ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)
        )
    )


async def revoke_for_user(session: AsyncSession, user_id: int, now: dt.datetime) -> int:
    """Revoke every unrevoked token of a user; returns how many."""
    result = await session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
