"""The viewer lookup's direct path (``db/fast_read.py``): on PostgreSQL it runs on the
driver connection with SQLAlchemy's processors, and must give exactly what the same
statement gives through the session, for every column a viewer carries; the instances it
builds are persistent, track changes and keep the secrets unloaded."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import inspect, select

from stridegraph.db import sessions as session_rows
from stridegraph.db import users as user_rows
from stridegraph.db.enums import AccessType, Currency, Gender, Units, WeekDay
from stridegraph.db.models import User
from stridegraph.db.viewer_lookup import ViewerLookup
from stridegraph.domain import tokens
from stridegraph.domain.unit import Unit, open_unit
from stridegraph.domain.viewer import resolve_bearer
from tests.helpers import login_token, make_user


async def _profiled_user(services):
    user = await make_user(services, "fay", name="Fay Doe")
    async with open_unit(services) as unit:
        row = await unit.session.get(User, user.id)
        assert row is not None
        row.city, row.birthdate, row.height, row.max_heart_rate = (
            "Lyon",
            dt.date(1990, 2, 3),
            170,
            190,
        )
        row.gender, row.units, row.currency = Gender.FEMALE, Units.IMPERIAL, Currency.POUND
        row.first_day_of_week = WeekDay.SUNDAY
        await unit.session.commit()
    return user


async def test_direct_and_session_paths_agree(services, backend):
    if backend != "postgresql":
        pytest.skip("the direct path is PostgreSQL's; SQLite always reads through the session")
    user = await _profiled_user(services)
    token = await login_token(services, user)
    lookup: ViewerLookup = session_rows._BY_ACCESS_HASH
    params = {
        "access_hash": tokens.digest(services.settings.secret_key, token),
        "now": dt.datetime.now(dt.UTC),
    }
    async with open_unit(services) as unit:
        direct = await lookup.read.first(unit.engine, unit.with_session, params)
        through = await unit.with_session(lambda s: lookup.read._through_session(s, params))
    assert direct is not None and through is not None
    assert direct == through
    assert {type(v) for v in direct.values()} == {type(v) for v in through.values()}
    assert direct["u_gender"] is Gender.FEMALE and direct["u_created_at"].tzinfo is not None


async def test_the_viewers_user_is_persistent_and_tracked(services):
    user = await make_user(services, "gus")
    token = await login_token(services, user)
    async with open_unit(services) as unit:
        viewer = await resolve_bearer(unit, token=token)
        # adopted: it joins the unit's session when that is made (``me`` never makes one)
        session = unit.session
        state = inspect(viewer.user)
        assert state.persistent and viewer.user in session
        assert {"password_hash", "mfa_secret"} <= state.unloaded
        viewer.user.city = "Oslo"
        await unit.session.commit()
    async with open_unit(services) as unit:
        assert await unit.session.scalar(select(User.city).where(User.id == user.id)) == "Oslo"


async def test_a_change_made_before_the_session_exists_is_written(services):
    """The viewer's user joins the unit's session only when that is made; a mutation may
    edit it first. The edit must then be written by the unit's own transaction, not
    flushed (outside any greenlet) when the session is made."""
    user = await make_user(services, "hal")
    token = await login_token(services, user)
    unit = Unit(services=services)  # as a request makes it: no session until needed
    try:
        viewer = await resolve_bearer(unit, token=token)
        viewer.user.city = "Bergen"  # before anything made the session

        async def save(unit: Any) -> None:
            await unit.session.flush()

        await unit.transaction(save)
    finally:
        await unit.close()
    async with open_unit(services) as unit:
        assert await unit.session.scalar(select(User.city).where(User.id == user.id)) == "Bergen"


LISTING_SHAPES: list[dict[str, Any]] = [
    {"sort": "username", "descending": False},
    {"sort": "name", "descending": True, "count_all": False},
    {"sort": "created_at", "descending": False, "offset": 1},
    {"sort": "access_type", "descending": True},
]
LISTING_FILTERS: list[dict[str, Any]] = [
    {},
    {"listed_only": True},
    {"search": "FA", "search_email": True},
    {"search": "doe"},
    {"access_type": AccessType.ADMIN},
    {"active": True, "email_verified": False},
]


async def test_a_listing_page_is_the_same_on_both_paths(services, db):
    """Every sort, direction, filter, keyset bound and offset: the page read straight off
    the driver (PostgreSQL) is the page the same statement gives through the session, value
    for value, enums and times included; on SQLite both are the session's."""
    await _profiled_user(services)
    for i in range(6):
        await make_user(services, f"lister{i}", name=f"Doe {i % 2}", admin=i % 3 == 0)
    async with open_unit(services) as unit:
        compared = 0
        for shape in LISTING_SHAPES:
            for wanted in LISTING_FILTERS:
                spec = user_rows.UserListFilter(**wanted)
                kw = {"limit": 4, "count_all": True, **shape}
                session_rows_ = await user_rows.list_users(None, unit.session_reads, spec, **kw)
                direct = await user_rows.list_users(db.engine, unit.session_reads, spec, **kw)
                assert direct == session_rows_, (shape, wanted)
                if direct:
                    at = user_rows.Keyset(value=direct[0].sort_key, id=direct[0].id)
                    for bound in ("after", "before"):
                        one = await user_rows.list_users(
                            None, unit.session_reads, spec, **kw, **{bound: at}
                        )
                        other = await user_rows.list_users(
                            db.engine, unit.session_reads, spec, **kw, **{bound: at}
                        )
                        assert one == other, (shape, wanted, bound)
                compared += len(direct)
    assert compared > 40  # the filters matched rows, so the comparison compared something
    first = (await _list(services, sort="username"))[0]
    assert isinstance(first.access_type, AccessType) and first.total == 7


async def _list(services, **kw):  # type: ignore[no-untyped-def]
    async with open_unit(services) as unit:
        return await user_rows.list_users(
            unit.direct_reads(),
            unit.session_reads,
            user_rows.UserListFilter(),
            descending=False,
            limit=50,
            **kw,
        )


async def test_a_listing_inside_a_transaction_sees_its_writes(services, db):
    """A listing after a write in the same unit reads through the unit's session, where
    the write is (the direct path would not see it before the commit)."""
    await make_user(services, "first")
    async with open_unit(services) as unit:
        row = await unit.session.get(User, (await _list(services, sort="username"))[0].id)
        assert row is not None
        row.name = "Renamed"
        await unit.session.flush()
        assert unit.direct_reads() is None
        page = await user_rows.list_users(
            unit.direct_reads(),
            unit.session_reads,
            user_rows.UserListFilter(),
            sort="name",
            descending=False,
            limit=5,
        )
        assert [user.name for user in page] == ["Renamed"]
        await unit.session.rollback()
    assert [user.name for user in await _list(services, sort="name")] == [
        "First"
    ]  # make_user names a user after its username
