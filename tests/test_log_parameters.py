"""Logs never carry SQL parameters (issue 11, point 7).

A real PostgreSQL error is made through the db layer with recognisable secret values as
parameters, logged the way the service logs an unexpected error (a trace under
``stridegraph.graphql``), and formatted by the server's own JSON formatter: the error and its
SQL are in the line, the values are not.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from stridegraph.db import users as user_rows
from stridegraph.db.models import User
from stridegraph.domain.unit import Services
from stridegraph.logs import JsonFormatter

SECRET_EMAIL = "needle-mail-7f3a9c@example.com"
SECRET_HASH = "$argon2id$v=19$m=65536,t=3,p=4$needle-hash-51be20"
SECRET_SEARCH = "needle-search-0c11d4"


def _log_line(caplog: pytest.LogCaptureFixture, exc: BaseException) -> str:
    """Log ``exc`` as MaskUnexpectedErrors does and return the JSON line the server prints."""
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="stridegraph.graphql"):
        logging.getLogger("stridegraph.graphql").error(
            "unexpected error in resolver",
            exc_info=(type(exc), exc, exc.__traceback__),
            extra={"request_id": "r1", "detail": str(exc)},
        )
    (record,) = caplog.records
    return JsonFormatter().format(record)


@pytest.fixture
def postgres_only(db: Any) -> None:
    if db.backend != "postgresql":
        pytest.skip("these errors are PostgreSQL's (SQLite stores NUL and casts anything)")


async def test_database_error_is_logged_without_its_parameters(
    services: Services, postgres_only: None, caplog: pytest.LogCaptureFixture
) -> None:
    user = User(username="victim", name="Vic\x00tim", email=SECRET_EMAIL)
    user.password_hash = SECRET_HASH
    async with services.sessions() as session:
        with pytest.raises(DBAPIError) as raised:
            await user_rows.insert_user(session, user)
    line = _log_line(caplog, raised.value)
    entry = json.loads(line)
    assert "invalid byte sequence" in entry["exc"]  # the error itself is there
    assert "INSERT INTO users" in entry["exc"]  # and the statement
    for secret in (SECRET_EMAIL, SECRET_HASH, "needle"):
        assert secret not in line
        assert secret not in str(raised.value)


async def test_value_the_driver_cannot_encode_is_not_logged(
    services: Services, postgres_only: None, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncpg names the value it could not encode in its own message ("invalid input for
    query argument $1: '…'"), out of reach of hide_parameters: the formatter scrubs it."""
    async with services.sessions() as session:
        with pytest.raises(DBAPIError) as raised:
            await session.execute(text("SELECT CAST(:term AS integer)"), {"term": SECRET_SEARCH})
    line = _log_line(caplog, raised.value)
    entry = json.loads(line)
    assert "invalid input for query argument $1: <value hidden>" in entry["exc"]
    assert "SELECT CAST($1 AS integer)" in entry["exc"]
    assert "invalid input for query argument $1: <value hidden>" in entry["detail"]
    assert SECRET_SEARCH not in line
