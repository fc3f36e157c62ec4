"""SQL for personal API tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.db.fast_read import (
    PrecompiledRead,
    SessionReads,
    as_loaded,
    session_engine,
    split_prefixed,
)
from stridegraph.db.models import ApiToken, User
from stridegraph.db.users import viewer_user_columns

#: What the viewer lookup reads of a personal API token (``domain/viewer.py``): not its hash.
_VIEWER_TOKEN = (ApiToken.id, ApiToken.user_id, ApiToken.scopes, ApiToken.last_used_at)

_VIEWER_BY_TOKEN_HASH = PrecompiledRead(
    select(*(c.label(f"t_{c.key}") for c in _VIEWER_TOKEN), *viewer_user_columns())
    .join(User, User.id == ApiToken.user_id)
    .where(
        ApiToken.token_hash == bindparam("token_hash"),
        ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > bindparam("now")),
    )
)


async def find_active_by_hash(
    session: AsyncSession, reads: SessionReads, token_hash: bytes, now: dt.datetime
) -> tuple[ApiToken, User] | None:
    """The live token with this hash and its user, in one precompiled statement, reading
    only what a viewer needs (see ``db/sessions.find_active_by_access_hash``)."""
    row = await _VIEWER_BY_TOKEN_HASH.first(
        session_engine(session), reads, {"token_hash": token_hash, "now": now}
    )
    if row is None:
        return None
    found = as_loaded(session, ApiToken, split_prefixed(row, "t_"))
    return found, as_loaded(session, User, split_prefixed(row, "u_"))


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
