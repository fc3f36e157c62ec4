"""The security-event listings seek their index (issue 18, point 2): each filter has an
index on (filter column, at, id), the keyset cursor bounds the index range, and the index
order is the listing's order (no sort)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from stridegraph.db import security_events as event_rows
from stridegraph.db.models import SecurityEvent
from tests.helpers import make_user
from tests.test_keyset import Captured

SEEDED = 20000
FILTERS = [
    ({}, "ix_security_events_at"),
    ({"subject_id": 7}, "ix_security_events_subject"),
    ({"actor_id": 3}, "ix_security_events_actor"),
    ({"types": ("LOCKOUT",)}, "ix_security_events_type"),
]


async def _seed(engine, user_id: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO security_events (at, type, actor_id, subject_id, detail) "
                "SELECT now() - n * interval '1 minute', "
                "(ARRAY['SIGN_IN_SUCCEEDED','SIGN_IN_FAILED','LOCKOUT','PROFILE_UPDATED'])"
                "[1 + n % 4], n % 50, CASE WHEN n % 3 = 0 THEN NULL ELSE CAST(:user AS INTEGER) END, '{}' "
                f"FROM generate_series(1, {SEEDED}) AS n"
            ),
            {"user": user_id},
        )
        await conn.execute(text("ANALYZE security_events"))


@pytest.mark.parametrize(("wanted", "index"), FILTERS, ids=[i for _, i in FILTERS])
async def test_each_filter_pages_along_its_index(services, db, backend, wanted, index):
    if backend != "postgresql":
        pytest.skip("EXPLAIN plans are PostgreSQL's; the paging itself is tested elsewhere")
    user = await make_user(services, "template")
    await _seed(db.engine, user.id)
    if "subject_id" in wanted:
        wanted = {"subject_id": user.id}
    spec = event_rows.EventFilter(**wanted)
    async with services.sessions() as session:
        middle = (
            await session.execute(
                select(SecurityEvent.at, SecurityEvent.id)
                .order_by(SecurityEvent.at.desc(), SecurityEvent.id.desc())
                .offset(SEEDED // 5)
                .limit(1)
            )
        ).one()
        after = event_rows.Position(at=middle[0], id=middle[1])
        with Captured(db.engine) as captured:
            rows = await event_rows.list_events(session, spec, after=after, limit=21)
        assert rows and all(r.at <= middle[0] for r in rows)
        statement, parameters = captured.statements[-1]
        conn = await session.connection()
        plan = "\n".join(
            row[0]
            for row in (
                await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)  # type: ignore[arg-type]
            ).all()
        )
    assert f"Index Scan Backward using {index}" in plan or f"Index Scan using {index}" in plan, plan
    assert "Sort" not in plan, plan
    conds = [line for line in plan.splitlines() if "Index Cond" in line]
    assert conds and "<" in conds[0], plan  # the cursor bounds the range


async def test_paging_by_time_then_id_is_exact_with_ties(services, db):
    user = await make_user(services, "template")
    moment = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    async with services.sessions() as session, session.begin():
        for i in range(9):
            event_rows.add(
                session,
                at=moment - dt.timedelta(minutes=i // 3),  # three events per instant
                type="PROFILE_UPDATED",
                actor_id=user.id,
                subject_id=user.id,
                session_id=None,
                client_address=None,
                user_agent=None,
                detail={},
            )
    spec = event_rows.EventFilter(subject_id=user.id)
    async with services.sessions() as session:
        everything = await event_rows.list_events(session, spec, after=None, limit=100)
        walked: list[int] = []
        after = None
        while True:
            page = await event_rows.list_events(session, spec, after=after, limit=2)
            if not page:
                break
            walked += [r.id for r in page]
            after = event_rows.Position(at=page[-1].at, id=page[-1].id)
    assert walked == [r.id for r in everything] and len(walked) == 9
    assert [(r.at, r.id) for r in everything] == sorted(
        ((r.at, r.id) for r in everything), reverse=True
    )
