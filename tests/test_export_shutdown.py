"""Shutdown waits for the data exports being built (up to ``SHUTDOWN_GRACE``): an export
whose build was under way when the worker was told to stop is finished, not left pending.

The build is held up for real: another PostgreSQL connection holds the passkeys table
locked (the request does not read it, the build does), so the build's read waits; the app's lifespan is told to end while it waits, and the
lock is released a moment later."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text

from stridegraph.app import create_app
from stridegraph.db.models import DataExport
from stridegraph.domain import export
from tests.helpers import login_token, make_user

REQUEST = "mutation { requestDataExport { dataExport { id } errors { code } } }"


async def test_shutdown_finishes_an_export_being_built(services, db, gql, backend):
    if backend != "postgresql":
        pytest.skip("holding a table lock from a second connection is PostgreSQL's")
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    app = create_app(services.settings, services=services)
    async with db.engine.connect() as blocker:
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        await blocker.execute(text("BEGIN"))
        await blocker.execute(text("LOCK TABLE passkeys IN ACCESS EXCLUSIVE MODE"))
        answer = (await gql.data(REQUEST, token=token))["requestDataExport"]
        assert answer["errors"] == []
        await asyncio.sleep(0.3)  # the build has started and waits for the lock
        assert await _states(db) == ["pending"]

        async def release() -> None:
            await asyncio.sleep(0.5)
            await blocker.execute(text("ROLLBACK"))

        releasing = asyncio.create_task(release())
        await lifespan.__aexit__(None, None, None)  # the shutdown
        await releasing
    assert await _states(db) == ["ready"]  # finished before the lifespan ended
    await export.wait_for_builds()


async def _states(db) -> list[str]:  # type: ignore[no-untyped-def]
    async with db.engine.connect() as conn:
        return list((await conn.scalars(select(DataExport.state))).all())
