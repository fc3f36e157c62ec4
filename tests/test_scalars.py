"""DateTime values are instants that exist in UTC (issue 11, point 6): a value past year
9999 or before year 1 once normalised is a typed error, never an OverflowError (500)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from stridegraph.db.models import ApiToken
from stridegraph.domain.unit import Services, open_unit
from stridegraph.graph.scalars import parse_instant
from tests.helpers import login_token, make_user

OUT_OF_RANGE = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]
MUTATION = (
    'mutation($e: DateTime) { createApiToken(name: "t", scopes: ["profile:read"], expiresAt: $e)'
    " { errors { code } } }"
)


def test_instants_are_normalised_to_utc() -> None:
    assert parse_instant("2030-01-01T02:00:00+02:00") == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert parse_instant("2030-01-01T02:00:00+02:00").utcoffset() == dt.timedelta(0)
    assert parse_instant("2030-01-01T00:00:00").tzinfo is None
    for value in OUT_OF_RANGE:
        with pytest.raises(ValueError, match="outside the years"):
            parse_instant(value)


@pytest.mark.parametrize("value", OUT_OF_RANGE)
async def test_an_instant_outside_utc_is_refused_and_creates_nothing(
    services: Services, gql: Any, value: str
) -> None:
    user = await make_user(services, "alice")
    token = await login_token(services, user)
    body = await gql.execute(MUTATION, {"e": value}, token=token)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "outside the years 1 to 9999" in error["message"]
    literal = await gql.execute(
        f'mutation {{ createApiToken(name: "t", scopes: ["profile:read"], expiresAt: "{value}")'
        " { errors { code } } }",
        token=token,
    )
    [error] = literal["errors"]
    assert "outside the years 1 to 9999" in error["message"]
    assert error.get("extensions", {}).get("code") != "INTERNAL_SERVER_ERROR"
    async with open_unit(services) as unit:
        assert await unit.session.scalar(select(func.count()).select_from(ApiToken)) == 0
