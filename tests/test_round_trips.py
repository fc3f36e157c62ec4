"""Round trips to the database per request (issue 12 point 2), counted on the real server by
its own counter, ``stridegraph_db_round_trips_total`` on ``/metrics`` (``db/round_trips.py``):
statements, and BEGIN / COMMIT / ROLLBACK only when really sent. One request at a time; the
scrape itself touches no database. Exact figures, so a regression fails."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.config import Settings
from stridegraph.db.models import User
from stridegraph.db.round_trips import counter_for
from stridegraph.domain.unit import Unit, open_unit
from tests.conftest import LiveServer, server_env, start_server, stop_server
from tests.helpers import PASSWORD, login_token, make_user

ME = """query Me { me {
  id username name email city birthdate preferredLanguage gender units height maxHeartRate
  firstDayOfWeek currency accessType createdAt
} }"""
USERS = (
    "query($t: Boolean!) { users(first: 50) { totalCount @include(if: $t) edges { node { id } } } }"
)
PAGE = "query { userPage(page: 2, perPage: 50) { totalCount items { id username } } }"
LOGIN = """mutation($u: String!, $p: String!) {
  login(username: $u, password: $p) { accessToken errors { code } }
}"""
LINE = re.compile(r'^stridegraph_db_round_trips_total\{kind="(\w+)"\} ([0-9.e+]+)$', re.M)


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    live = start_server(server_env(settings), tmp_path)
    yield live
    stop_server(live)


def round_trips(server: LiveServer) -> dict[str, int]:
    text = httpx.get(f"{server.url}/metrics").text
    return {kind: int(float(value)) for kind, value in LINE.findall(text)}


def cost(server: LiveServer, body: dict[str, object], token: str | None = None) -> dict[str, int]:
    """The round trips one request made, by kind (zeros left out)."""
    before = round_trips(server)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{server.url}/graphql", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert not response.json().get("errors"), response.json()
    after = round_trips(server)
    assert round_trips(server) == after  # scraping costs nothing
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


async def test_metrics_expose_every_kind_and_the_pool(server, backend):
    text = httpx.get(f"{server.url}/metrics").text
    assert set(dict(LINE.findall(text))) >= {
        "statement",
        "begin",
        "commit",
        "rollback",
    }
    for gauge in ("checked_out", "overflow", "size"):
        assert re.search(rf"^stridegraph_db_pool_{gauge} [0-9.]+$", text, re.M), gauge


async def test_me_is_one_round_trip(server, services, backend):
    user = await make_user(services, "mia")
    token = await login_token(services, user)
    cost(server, {"query": ME}, token)  # the connection's first use prepares its statements
    assert cost(server, {"query": ME}, token) == {"statement": 1}
    assert cost(server, {"query": ME}, token) == {"statement": 1}


async def test_listings_are_two_round_trips(server, services, backend):
    viewer = await make_user(services, "reader")
    for i in range(55):
        await make_user(services, f"listed{i:02d}", password=None)
    token = await login_token(services, viewer)
    cost(server, {"query": USERS, "variables": {"t": True}}, token)
    # the viewer, then the page (with the total inside the page's statement when selected)
    assert cost(server, {"query": USERS, "variables": {"t": False}}, token) == {"statement": 2}
    assert cost(server, {"query": USERS, "variables": {"t": True}}, token) == {"statement": 2}
    assert cost(server, {"query": PAGE}, token) == {"statement": 2}


async def test_login_round_trips_are_pinned(server, services, backend):
    await make_user(services, "lou")
    body = {"query": LOGIN, "variables": {"u": "lou", "p": PASSWORD}}
    cost(server, body)
    spent = cost(server, body)
    # login: the account lookup, the attempt's reservation and the limit counts (their own
    # short transactions), clearing the account's failures, the session insert
    if backend == "postgresql":
        assert spent == LOGIN_POSTGRESQL, spent
    else:
        assert spent == LOGIN_SQLITE, spent


#: The figures after issue 12's round-trip work (22 on PostgreSQL): the rate limiter's
#: reads still run in transactions of their own (hence the two ROLLBACKs). Issue 18 adds
#: two statements: the new-device check and the sign-in's security event.
LOGIN_POSTGRESQL = {"statement": 12, "begin": 6, "commit": 4, "rollback": 2}
#: pysqlite begins only before a write, and nothing goes over a network.
LOGIN_SQLITE = {"statement": 12, "begin": 3, "commit": 3}


async def test_reads_autocommit_and_only_transactions_begin(services, db, backend):
    """Inside the unit of work: reads send their statement alone, ``Unit.transaction`` sends
    BEGIN..COMMIT (or ROLLBACK on error), and reads after it are autocommit again."""
    if backend != "postgresql":
        pytest.skip("pysqlite never wraps a read in a transaction anyway")
    user = await make_user(services, "tia")
    counter = counter_for(db.engine)

    async def read(unit: Unit) -> str | None:
        return await unit.with_session(_name_of, user.id)

    async def rename(unit: Unit, *, name: str, fail: bool = False) -> None:
        await unit.session.execute(update(User).where(User.id == user.id).values(name=name))
        if fail:
            raise RuntimeError("after the write")

    def spent(before: dict[str, int]) -> dict[str, int]:
        after = counter.snapshot()
        return {k: after[k] - before[k] for k in after if after[k] != before[k]}

    async with open_unit(services) as unit:
        before = counter.snapshot()
        assert await read(unit) == "Tia"
        assert spent(before) == {"statement": 1}
        before = counter.snapshot()
        await unit.transaction(rename, name="Tea")
        assert spent(before) == {"begin": 1, "statement": 1, "commit": 1}
        before = counter.snapshot()
        assert await read(unit) == "Tea"
        assert spent(before) == {"statement": 1}
        before = counter.snapshot()
        with pytest.raises(RuntimeError):
            await unit.transaction(rename, name="Toe", fail=True)
        assert spent(before) == {"begin": 1, "statement": 1, "rollback": 1}
        before = counter.snapshot()
        assert await read(unit) == "Tea"  # rolled back
        assert spent(before) == {"statement": 1}
        before = counter.snapshot()
    assert spent(before) == {}  # closing sends nothing


async def _name_of(session: AsyncSession, user_id: int) -> str | None:
    return await session.scalar(select(User.name).where(User.id == user_id))


BACKGROUND = re.compile(
    r'^stridegraph_db_background_round_trips_total\{kind="statement"\} ([0-9.e+]+)$', re.M
)


async def test_background_work_is_counted_apart(server, backend):
    """The scrape's outbox gauges read the database: counted as background, so a request's
    budget above stays exact while the outbox loop and the scrape run alongside."""
    first = httpx.get(f"{server.url}/metrics").text
    requests_before = round_trips(server)
    second = httpx.get(f"{server.url}/metrics").text
    assert float(BACKGROUND.findall(second)[0]) > float(BACKGROUND.findall(first)[0])
    assert round_trips(server) == requests_before
