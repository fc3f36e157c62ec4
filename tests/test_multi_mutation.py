"""Every mutation of a multi-mutation operation runs in its own unit of work (issue 11,
point 6): each is committed or rolled back on its own, and a later one sees what an earlier
one did to the viewer's own credential."""

from __future__ import annotations

from typing import Any

from stridegraph.db import users as user_rows
from stridegraph.domain.unit import Services, open_unit
from tests.helpers import login_token, make_user

MISSING_USER = "VXNlcjo5OTk5"  # User:9999


async def _read_user(services: Services, user_id: int) -> Any:
    async with open_unit(services) as unit:
        return await user_rows.reload(unit.session, user_id)


async def _privacy(services: Services, user_id: int) -> Any:
    async with open_unit(services) as unit:
        return (await user_rows.privacy_for(unit.session, [user_id]))[user_id]


async def test_a_rolled_back_mutation_does_not_break_the_next(services: Services, gql: Any) -> None:
    """Before: the rollback expired the viewer's User and the second mutation failed with
    MissingGreenlet (INTERNAL_SERVER_ERROR)."""
    admin = await make_user(services, "alice", admin=True)
    token = await login_token(services, admin)
    data = await gql.data(
        f'mutation {{ a: deleteUser(id: "{MISSING_USER}") {{ errors {{ code }} }}'
        " b: updatePrivacySettings(input: {hideActivityHr: true})"
        " { errors { code } privacySettings { hideActivityHr } } }",
        token=token,
    )
    assert data["a"]["errors"] == [{"code": "NOT_FOUND"}]
    assert data["b"] == {"errors": [], "privacySettings": {"hideActivityHr": True}}
    assert (await _privacy(services, admin.id)).hide_activity_hr is True


async def test_each_mutation_commits_or_rolls_back_on_its_own(services: Services, gql: Any) -> None:
    user = await make_user(services, "alice")
    token = await login_token(services, user)
    data = await gql.data(
        'mutation { a: updateMe(input: {name: "Bob"}) { errors { code } user { name } }'
        " b: updateMe(input: {height: 9999}) { errors { code field } }"
        ' c: updateMe(input: {city: "Graz"}) { errors { code } user { name city height } } }',
        token=token,
    )
    assert data["a"] == {"errors": [], "user": {"name": "Bob"}}
    assert data["b"]["errors"] == [{"code": "OUT_OF_RANGE", "field": "height"}]
    assert data["c"] == {"errors": [], "user": {"name": "Bob", "city": "Graz", "height": None}}
    row = await _read_user(services, user.id)
    assert (row.name, row.city, row.height) == ("Bob", "Graz", None)


async def test_a_mutation_after_logout_is_unauthenticated_and_changes_nothing(
    services: Services, gql: Any
) -> None:
    user = await make_user(services, "alice", name="Alice")
    token = await login_token(services, user)
    body = await gql.execute(
        "mutation { a: logout { errors { code } }"
        ' b: updateMe(input: {name: "Eve"}) { errors { code } } }',
        token=token,
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["path"] == ["b"]
    assert (await _read_user(services, user.id)).name == "Alice"
    again = await gql.execute("{ me { id } }", token=token)
    assert again["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
