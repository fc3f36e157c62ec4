"""Shared arrangements for the users tests: global ids, settings, and database snapshots to
prove that a refused mutation changed nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from strawberry import relay

from stridegraph.db.models import (
    ApiToken,
    Integrations,
    PrivacySettings,
    ServerSettings,
    Session,
    User,
)
from tests.conftest import Database

TABLES = (User, PrivacySettings, Integrations, ServerSettings, Session, ApiToken)


def gid(user: Any) -> str:
    return relay.to_base64("User", user.id)


async def set_settings(db: Database, **values: Any) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(update(ServerSettings).values(**values))


async def set_user(db: Database, user_id: int, **values: Any) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user_id).values(**values))


async def user_row(db: Database, user_id: int) -> dict[str, Any] | None:
    """The user's row as stored now (None when deleted)."""
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(User.__table__).where(User.id == user_id))).first()
    return dict(row._mapping) if row else None


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a users mutation may touch, in a stable order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with db.engine.connect() as conn:
        for model in TABLES:
            table = model.__table__
            rows = (await conn.execute(select(table).order_by(*table.primary_key.columns))).all()
            out[table.name] = [tuple(r) for r in rows]
    return out
