"""Keyset paging seeks its index (issue 12 point 5): the cursor predicate is a row-value
comparison that PostgreSQL runs as an index range over the matching ``(key, id)`` index, for
every sort order and direction, and paging stays exact on both databases, ties included."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from stridegraph.db import users as user_rows
from stridegraph.db.models import User
from tests.helpers import make_user

SEEDED = 5000
ORDERS = [
    ("username", "ix_users_keyset_username"),
    ("name", "ix_users_keyset_name"),
    ("created_at", "ix_users_keyset_created_at"),
    ("access_type", "ix_users_keyset_access_type"),
]
COPIED = [c.name for c in User.__table__.columns if c.name not in ("id",)]
VARIED = {
    "username": "'seed' || n",
    "email": "'seed' || n || '@example.com'",
    "email_key": "'seed' || n || '@example.com'",
    "name": "'Name ' || (n % 700)",  # ties on the name order
    "created_at": "created_at + n * interval '1 second'",
    "access_type": "CASE WHEN n % 50 = 0 THEN 'admin' ELSE access_type END",
}


async def _seed_postgres(engine: AsyncEngine) -> None:
    columns = ", ".join(COPIED)
    values = ", ".join(VARIED.get(c, c) for c in COPIED)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f"INSERT INTO users ({columns}) SELECT {values} FROM users, "
                f"generate_series(1, {SEEDED}) AS n"
            )
        )
        await conn.execute(text("ANALYZE users"))


class Captured:
    """The statements an engine sends, with their parameters."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.statements: list[tuple[str, object]] = []

    def __enter__(self) -> Captured:
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        self.statements.append((statement, parameters))


def _through(session):  # type: ignore[no-untyped-def]
    """A listing's reads on ``session`` (the path the SQL events see)."""

    async def reads(read):  # type: ignore[no-untyped-def]
        return await read(session)

    return reads


async def _mid_keyset(session, sort: str) -> user_rows.Keyset:
    key = user_rows.SORT_KEYS[sort]
    value, user_id = (
        await session.execute(
            select(key, User.id).order_by(key, User.id).offset(SEEDED // 2).limit(1)
        )
    ).one()
    return user_rows.Keyset(value=value, id=user_id)


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize(("sort", "index"), ORDERS, ids=[o for o, _ in ORDERS])
async def test_a_mid_list_cursor_is_an_index_range(services, db, backend, sort, index, descending):
    if backend != "postgresql":
        pytest.skip("EXPLAIN plans are PostgreSQL's; SQLite's correctness is tested below")
    await make_user(services, "template")
    await _seed_postgres(db.engine)
    spec = user_rows.UserListFilter(listed_only=True)
    async with services.sessions() as session:
        at = await _mid_keyset(session, sort)
        with Captured(db.engine) as captured:
            rows = await user_rows.list_users(
                None, _through(session), spec, sort=sort, descending=descending, after=at, limit=51
            )
        assert len(rows) == 51
        statement, parameters = captured.statements[-1]
        conn = await session.connection()
        plan = "\n".join(
            row[0]
            for row in (
                await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)  # type: ignore[arg-type]
            ).all()
        )
    assert f"Index Scan using {index}" in plan or f"Index Scan Backward using {index}" in plan, plan
    conds = [line for line in plan.splitlines() if "Index Cond" in line]
    assert conds, f"the cursor is a filter, not an index bound:\n{plan}"
    assert ">" in conds[0] or "<" in conds[0], plan  # the cursor bounds the range itself
    assert "Sort" not in plan, plan  # the index order is the listing's order


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("sort", [o for o, _ in ORDERS])
async def test_walking_every_page_lists_everyone_once_in_order(services, sort, descending):
    for i in range(23):
        await make_user(
            services,
            f"walker{i:02d}",
            name=f"Same {i % 4}",  # ties: the id breaks them
            admin=i % 5 == 0,
        )
    spec = user_rows.UserListFilter()
    async with services.sessions() as session:
        everyone = await user_rows.list_users(
            None, _through(session), spec, sort=sort, descending=descending, limit=1000
        )
        forwards: list[int] = []
        at = None
        while True:
            page = await user_rows.list_users(
                None, _through(session), spec, sort=sort, descending=descending, after=at, limit=5
            )
            if not page:
                break
            forwards += [user.id for user in page]
            at = user_rows.Keyset(value=page[-1].sort_key, id=page[-1].id)
        backwards: list[int] = []
        at = None
        while True:
            page = await user_rows.list_users(
                None,
                _through(session),
                spec,
                sort=sort,
                descending=not descending,
                after=at,
                limit=5,
            )
            if not page:
                break
            backwards += [user.id for user in page]
            at = user_rows.Keyset(value=page[-1].sort_key, id=page[-1].id)
    expected = [user.id for user in everyone]
    assert len(expected) == 23
    assert forwards == expected
    assert backwards == expected[::-1]
