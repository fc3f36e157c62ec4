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
from stridegraph.db.enums import Currency, Gender, Units, WeekDay
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
