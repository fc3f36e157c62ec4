"""A listing's total comes in its page's statement (issue 12 points 2 and 5): `users` with
`totalCount` costs the same statements as without, `userPage` one for page and total, and
the count is computed only when selected."""

from __future__ import annotations

import pytest

from tests.helpers import login_token, make_user

USERS = (
    "query($t: Boolean!) { users(first: 50) { totalCount @include(if: $t) edges { node { id } } } }"
)
FRAGMENT = """query { users(first: 50) { ...Total edges { node { username } } } }
fragment Total on UserConnection { totalCount }"""
PAGE = "query($p: Int!) { userPage(page: $p, perPage: 5) { totalCount pageCount items { id } } }"


@pytest.fixture
async def reader(services):
    viewer = await make_user(services, "reader")
    for i in range(12):
        await make_user(services, f"listed{i:02d}")
    return await login_token(services, viewer)


def _counts(statements: list[str]) -> int:
    return sum("count(" in s.lower() for s in statements)


async def test_users_with_total_costs_no_more_statements(gql, reader, sql_counter):
    sql_counter.reset()
    without = await gql.data(USERS, {"t": False}, token=reader)
    plain = list(sql_counter.statements)
    sql_counter.reset()
    counted = await gql.data(USERS, {"t": True}, token=reader)
    with_total = list(sql_counter.statements)
    assert "totalCount" not in without["users"]
    assert counted["users"]["totalCount"] == 13
    assert len(counted["users"]["edges"]) == 13
    assert len(plain) == 2, plain  # the viewer, the page
    assert _counts(plain) == 0  # not computed when not selected
    assert len(with_total) == 2, with_total  # the total rides in the page's statement
    sql_counter.reset()
    through_fragment = await gql.data(FRAGMENT, token=reader)
    assert through_fragment["users"]["totalCount"] == 13
    assert sql_counter.count == 2, sql_counter.statements


async def test_user_page_is_one_statement_and_past_the_end_still_counts(gql, reader, sql_counter):
    sql_counter.reset()
    first = (await gql.data(PAGE, {"p": 1}, token=reader))["userPage"]
    assert sql_counter.count == 2, sql_counter.statements  # the viewer, page with total
    assert (first["totalCount"], first["pageCount"], len(first["items"])) == (13, 3, 5)
    last = (await gql.data(PAGE, {"p": 3}, token=reader))["userPage"]
    assert (last["totalCount"], len(last["items"])) == (13, 3)
    sql_counter.reset()
    beyond = (await gql.data(PAGE, {"p": 9}, token=reader))["userPage"]
    assert (beyond["totalCount"], beyond["pageCount"], beyond["items"]) == (13, 3, [])
    assert sql_counter.count == 3  # an empty page carries no total: it is counted apart


async def test_an_empty_listing_counts_zero_without_a_second_statement(gql, services, sql_counter):
    viewer = await make_user(services, "alone")
    token = await login_token(services, viewer)
    query = 'query { users(first: 5, filter: {search: "nobody-like-this"}) { totalCount edges { cursor } } }'
    sql_counter.reset()
    data = await gql.data(query, token=token)
    assert data["users"] == {"totalCount": 0, "edges": []}
    assert sql_counter.count == 2
