"""One failing field never breaks a sibling's database work (issue 11, Medium 4).

Page-size and page-number arguments are checked before execution; a field that fails during
execution (its non-null error cancels its siblings) never cuts a sibling's SQL mid-call, and
the request's final rollback never raises into the response.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from stridegraph.domain.unit import Services, open_unit
from tests.helpers import login_token, make_user


@pytest.mark.parametrize(
    ("query", "variables", "field", "message"),
    [
        (
            "{ serverSettings { signupEnabled } users(first: -1) { totalCount } }",
            {},
            "first",
            "between 0 and 100",
        ),
        (
            "{ serverSettings { signupEnabled } users(last: 101) { totalCount } }",
            {},
            "last",
            "between 0 and 100",
        ),
        (
            "query($n: Int) { serverSettings { signupEnabled } ...F }"
            " fragment F on Query { userPage(perPage: $n) { totalCount } }",
            {"n": 1000},
            "perPage",
            "between 1 and 100",
        ),
        (
            "query($p: Int = 0) { serverSettings { signupEnabled }"
            " ... on Query { userPage(page: $p) { totalCount } } }",
            {},
            "page",
            "starts at 1",
        ),
    ],
)
async def test_page_arguments_are_refused_before_any_sql(
    gql: Any, sql_counter: Any, query: str, variables: dict[str, Any], field: str, message: str
) -> None:
    sql_counter.reset()
    body = await gql.execute(query, variables)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert message in error["message"]
    assert sql_counter.count == 0, sql_counter.statements


async def test_a_failing_field_never_breaks_its_siblings_sql(services: Services, http: Any) -> None:
    """``users`` (non-null) fails on a bad cursor while ``me { privacySettings }`` is in its
    SQL; graphql-core cancels the sibling. Concurrent requests make the overlap certain
    enough: before the fix about half of these answered HTTP 500."""
    admin = await make_user(services, "alice", admin=True)
    headers = {"Authorization": f"Bearer {await login_token(services, admin)}"}
    query = '{ me { id privacySettings { hideActivityHr } } users(after: "bad") { totalCount } }'

    async def one() -> Any:
        return await http.post("/graphql", json={"query": query}, headers=headers)

    responses = []
    for _ in range(5):
        responses += await asyncio.gather(*[one() for _ in range(10)])
    assert {r.status_code for r in responses} == {200}
    for response in responses:
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["field"] == "after"


def _slow_sql(backend: str) -> str:
    if backend == "postgresql":
        return "SELECT 1 FROM pg_sleep(0.3)"
    return (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)"
        " SELECT 1 FROM (SELECT count(*) FROM n)"
    )


async def test_a_cancelled_caller_waits_for_its_sql_and_the_session_lives_on(
    services: Services, backend: str
) -> None:
    started = asyncio.Event()

    async def slow(session: AsyncSession) -> int:
        started.set()
        return int((await session.execute(text(_slow_sql(backend)))).scalar_one())

    async def one(session: AsyncSession) -> int:
        return int((await session.execute(text("SELECT 1"))).scalar_one())

    async with open_unit(services) as unit:
        caller = asyncio.create_task(unit.with_session(slow))
        await started.wait()
        await asyncio.sleep(0)  # the statement is now on its way to the database
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert await unit.with_session(one) == 1
