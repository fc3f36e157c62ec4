"""The SQL layer for users: a unique-index hit keeps the transaction usable, and a rollback
afterwards undoes everything of the unit, on SQLite (whose driver has its own transaction
rules) as on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stridegraph.db import users as user_rows
from stridegraph.db.models import User
from stridegraph.domain.unit import open_unit
from tests.helpers import make_user
from tests.users_support import snapshot


def new(username: str, email: str) -> User:
    return User(username=username, email=email, name=username)


async def test_a_unique_violation_leaves_the_transaction_usable_and_undoable(services, db):
    await make_user(services, "taken", email="taken@example.com", password=None)
    before = await snapshot(db)
    async with open_unit(services) as unit:
        first = await user_rows.insert_user(unit.session, new("fresh", "fresh@example.com"))
        with pytest.raises(user_rows.UniqueViolation) as caught:
            await user_rows.insert_user(unit.session, new("TAKEN", "other@example.com"))
        assert caught.value.column == "username"
        # the unit goes on: it still sees its own first insert
        seen = await unit.session.scalar(select(User.id).where(User.id == first.id))
        assert seen == first.id
        with pytest.raises(user_rows.UniqueViolation) as caught:
            await user_rows.insert_user(unit.session, new("third", "Taken@Example.com"))
        assert caught.value.column == "email"
        await unit.rollback()
    assert await snapshot(db) == before  # the first insert was undone too


async def test_a_committed_unit_keeps_its_work_after_a_violation(services, db):
    await make_user(services, "taken", password=None)
    async with open_unit(services) as unit:
        await user_rows.insert_user(unit.session, new("kept", "kept@example.com"))
        with pytest.raises(user_rows.UniqueViolation):
            await user_rows.insert_user(unit.session, new("taken", "x@example.com"))
        await unit.commit()
    async with db.engine.connect() as conn:
        names = set((await conn.execute(select(User.username))).scalars())
    assert names == {"taken", "kept"}
