"""``users`` (Relay connection, keyset cursors) and ``userPage``: order, ties, filters, limits,
and a bounded number of SQL statements."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from stridegraph.db.enums import AccessType
from tests.conftest import share_app_per_module
from tests.helpers import login_token, make_user
from tests.users_support import set_user

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()

CONNECTION = """
query($first: Int, $after: String, $last: Int, $before: String, $order: UserOrder, $filter: UserFilter) {
  users(first: $first, after: $after, last: $last, before: $before, orderBy: $order, filter: $filter) {
    totalCount
    edges { cursor node { username } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
# Names with ties (and different case) so the id tie-break and case-insensitivity matter.
NAMES = ["Bea", "ana", "Ana", "carl", "bea", "Dora", "ana", "Ede", "bea", "Fay", "Ana", "gus"]


def codes(body: dict[str, Any]) -> list[str]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


async def crowd(services: Any, db: Any) -> tuple[str, list[Any]]:
    """An admin plus 12 users with tied names, tied creation times and mixed roles."""
    admin = await make_user(services, "root", name="Zed", admin=True)
    users = [admin]
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for i, name in enumerate(NAMES):
        user = await make_user(services, f"u{i:02d}", name=name, password=None, admin=i % 5 == 0)
        # three users share each creation time
        await set_user(db, user.id, created_at=base + dt.timedelta(hours=i // 3))
        user.created_at = base + dt.timedelta(hours=i // 3)
        users.append(user)
    return await login_token(services, admin), users


def expected(users: list[Any], field: str, descending: bool) -> list[str]:
    keys = {
        "USERNAME": lambda u: u.username.lower(),
        "NAME": lambda u: u.name.lower(),
        "CREATED_AT": lambda u: u.created_at,
        "ACCESS_TYPE": lambda u: u.access_type.value,
    }
    ordered = sorted(users, key=lambda u: (keys[field](u), u.id), reverse=descending)
    return [u.username for u in ordered]


async def walk(
    gql: Any, token: str, order: dict[str, str], size: int, backwards: bool
) -> list[str]:
    """Every username, page by page, following the cursors in one direction."""
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        variables: dict[str, Any] = {"order": order}
        if backwards:
            variables.update(last=size, before=cursor)
        else:
            variables.update(first=size, after=cursor)
        page = (await gql.data(CONNECTION, variables, token=token))["users"]
        names = [e["node"]["username"] for e in page["edges"]]
        seen = names + seen if backwards else seen + names
        info = page["pageInfo"]
        more = info["hasPreviousPage"] if backwards else info["hasNextPage"]
        if names:
            assert info["startCursor"] == page["edges"][0]["cursor"]
            assert info["endCursor"] == page["edges"][-1]["cursor"]
        if not more:
            return seen
        cursor = info["startCursor"] if backwards else info["endCursor"]
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("field", ["USERNAME", "NAME", "CREATED_AT", "ACCESS_TYPE"])
async def test_keyset_pages_follow_the_order_with_id_tie_break(gql, services, db, field):
    token, users = await crowd(services, db)
    for direction in ("ASC", "DESC"):
        want = expected(users, field, direction == "DESC")
        order = {"field": field, "direction": direction}
        assert await walk(gql, token, order, 5, backwards=False) == want
        assert await walk(gql, token, order, 4, backwards=True) == want


async def test_total_count_default_size_and_flags(gql, services, db):
    token, _ = await crowd(services, db)
    for i in range(12):  # 25 users in all
        await make_user(services, f"x{i:02d}", password=None)
    first = (await gql.data(CONNECTION, {}, token=token))["users"]
    assert first["totalCount"] == 25 and len(first["edges"]) == 20
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    rest = (await gql.data(CONNECTION, {"after": first["pageInfo"]["endCursor"]}, token=token))[
        "users"
    ]
    assert len(rest["edges"]) == 5 and rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["hasPreviousPage"] is True
    empty = (await gql.data(CONNECTION, {"first": 0}, token=token))["users"]
    assert empty["edges"] == [] and empty["totalCount"] == 25


async def test_filters_and_search(gql, services, db):
    token, users = await crowd(services, db)
    await make_user(services, "mail.match", name="Someone", email="Needle@Example.com")
    await make_user(services, "asleep", name="Ana Asleep", active=False)
    await make_user(services, "queued", name="Ana Queued", pending_admin_approval=True)
    regular = await login_token(services, users[2])

    async def names(filter: dict[str, Any], as_token: str = token) -> set[str]:
        page = await gql.data(CONNECTION, {"first": 100, "filter": filter}, token=as_token)
        return {e["node"]["username"] for e in page["users"]["edges"]}

    anas = {u.username for u in users if u.name.lower() == "ana"}
    assert await names({"search": "AN"}) == anas | {"asleep", "queued"}
    assert await names({"search": "AN"}, regular) == anas
    assert await names({"search": "u0"}) == {u.username for u in users if "u0" in u.username}
    assert await names({"search": "needle"}) == {"mail.match"}
    assert await names({"search": "needle"}, regular) == set()  # e-mail: admins only
    assert await names({"search": "%"}) == set()  # LIKE wildcards are literal
    admins = {u.username for u in users if u.access_type is AccessType.ADMIN}
    assert await names({"accessType": "ADMIN"}) == admins
    assert await names({"accessType": "ADMIN"}, regular) == admins
    assert await names({"active": False}) == {"asleep"}
    assert await names({"pendingAdminApproval": True}) == {"queued"}
    assert await names({"emailVerified": False}) == set()
    for admin_only in ({"active": True}, {"emailVerified": True}, {"pendingAdminApproval": False}):
        body = await gql.execute(CONNECTION, {"filter": admin_only}, token=regular)
        assert codes(body) == ["FORBIDDEN"], body
        page = await gql.execute(
            "query($f: UserFilter) { userPage(filter: $f) { totalCount } }",
            {"f": admin_only},
            token=regular,
        )
        assert codes(page) == ["FORBIDDEN"]


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
        ({"last": 101}, "last"),
        ({"first": 2, "last": 2}, "last"),
        ({"after": "not-a-cursor"}, "after"),
        ({"before": "bm9wZQ"}, "before"),
        ({"filter": {"search": "x" * 251}}, "search"),
    ],
)
async def test_bad_connection_arguments_are_clear_errors(gql, services, db, variables, argument):
    token, _ = await crowd(services, db)
    body = await gql.execute(CONNECTION, variables, token=token)
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == argument
    assert body["data"] is None


async def test_a_cursor_only_fits_its_own_order(gql, services, db):
    token, _ = await crowd(services, db)
    page = await gql.data(CONNECTION, {"first": 2}, token=token)
    cursor = page["users"]["pageInfo"]["endCursor"]
    body = await gql.execute(CONNECTION, {"after": cursor, "order": {"field": "NAME"}}, token=token)
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_unknown_sort_key_or_enum_is_a_validation_error(gql, services, db):
    token, _ = await crowd(services, db)
    body = await gql.execute(
        "{ users(orderBy: {field: WORKOUTS_COUNT}) { totalCount } }", token=token
    )
    assert body.get("data") is None and body["errors"]
    assert "WORKOUTS_COUNT" in body["errors"][0]["message"]
    body = await gql.execute(CONNECTION, {"filter": {"accessType": "ROOT"}}, token=token)
    assert body.get("data") is None and "ROOT" in body["errors"][0]["message"]
    assert codes(body) == ["BAD_USER_INPUT"]


PAGE = """
query($page: Int, $perPage: Int, $order: UserOrder) {
  userPage(page: $page, perPage: $perPage, orderBy: $order) {
    totalCount page perPage pageCount items { username }
  }
}
"""


async def test_user_page(gql, services, db):
    token, users = await crowd(services, db)
    want = expected(users, "NAME", True)
    pages = []
    for number in (1, 2, 3):
        page = (
            await gql.data(
                PAGE,
                {"page": number, "perPage": 5, "order": {"field": "NAME", "direction": "DESC"}},
                token=token,
            )
        )["userPage"]
        assert page["totalCount"] == 13 and page["pageCount"] == 3
        assert page["page"] == number and page["perPage"] == 5
        pages += [i["username"] for i in page["items"]]
    assert pages == want
    beyond = (await gql.data(PAGE, {"page": 9}, token=token))["userPage"]
    assert beyond["items"] == [] and beyond["pageCount"] == 2
    default = (await gql.data(PAGE, {}, token=token))["userPage"]
    assert default["page"] == 1 and default["perPage"] == 10 and len(default["items"]) == 10
    for variables, argument in (
        ({"page": 0}, "page"),
        ({"page": -3}, "page"),
        ({"perPage": 0}, "perPage"),
        ({"perPage": 101}, "perPage"),
    ):
        body = await gql.execute(PAGE, variables, token=token)
        assert codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["extensions"]["field"] == argument


EVERYTHING = """
  id username name email city birthdate preferredLanguage gender units height maxHeartRate
  firstDayOfWeek currency accessType photoUrl active mfaEnabled emailVerified
  pendingAdminApproval externalAuthCount createdAt isStravaLinked isGarminconnectLinked
  privacySettings {
    defaultActivityVisibility hideActivityStartTime hideActivityLocation hideActivityMap
    hideActivityHr hideActivityPower hideActivityCadence hideActivityElevation
    hideActivitySpeed hideActivityPace hideActivityLaps hideActivityWorkoutSetsSteps
    hideActivityGear
  }
"""


async def test_listing_100_users_costs_the_same_statements_as_10(gql, services, sql_counter):
    admin = await make_user(services, "root", admin=True)
    token = await login_token(services, admin)
    for i in range(99):
        await make_user(services, f"member{i:03d}", password=None)
    queries = {
        "users": f"query($n: Int) {{ users(first: $n) {{ totalCount edges {{ cursor node {{ {EVERYTHING} }} }} }} }}",
        "userPage": f"query($n: Int) {{ userPage(perPage: $n) {{ totalCount items {{ {EVERYTHING} }} }} }}",
    }
    for name, query in queries.items():
        counts = {}
        for size in (10, 100):
            sql_counter.reset()
            body = await gql.data(query, {"n": size}, token=token)
            items = body[name]["edges"] if name == "users" else body[name]["items"]
            assert len(items) == size
            counts[size] = sql_counter.count
        assert counts[10] == counts[100], (name, counts)
        assert counts[100] <= 6, sql_counter.statements
