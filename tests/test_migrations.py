"""Alembic is the only way a schema is made: the chain goes up, down and up again on both
databases, and the models agree with what the migrations build."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from stridegraph.db import migrate
from stridegraph.db.engine import make_engine
from stridegraph.db.keys import email_key
from stridegraph.db.models import HIDE_FLAGS, Base

HIDE = [f.removeprefix("hide_activity_") for f in HIDE_FLAGS]


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    server = request.getfixturevalue("postgres_server")
    if server is None:
        pytest.skip("PostgreSQL not available")
    name = f"stridegraph_mig_{uuid.uuid4().hex[:8]}"
    url = await server.create_database(name)
    yield url
    await server.drop_database(name)


async def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names


async def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    expected = {t.name for t in Base.metadata.sorted_tables}
    await migrate.upgrade_async(empty_url)
    assert expected <= await table_names(empty_url)
    await migrate.downgrade_async(empty_url, "base")
    assert await table_names(empty_url) <= {"alembic_version"}
    await migrate.upgrade_async(empty_url)
    assert expected <= await table_names(empty_url)
    engine = make_engine(empty_url)
    assert await migrate.is_at_head(engine)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT signup_enabled, password_min_length_admin FROM server_settings")
            )
        ).one()
    await engine.dispose()
    assert tuple(row) == (False, 12)


def _diff(connection: Any) -> list[Any]:
    with warnings.catch_warnings():
        # SQLite cannot reflect expression indexes; alembic warns and skips comparing them.
        warnings.simplefilter("ignore")
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


async def test_models_and_migrations_agree(empty_url: str) -> None:
    await migrate.upgrade_async(empty_url)
    engine = make_engine(empty_url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    await engine.dispose()
    assert diff == []


USER_COLUMNS = (
    "name, username, email, preferred_language, gender, units, access_type, active,"
    " first_day_of_week, currency, mfa_enabled, email_verified, pending_admin_approval,"
    " created_at, updated_at"
)
USER_VALUES = (
    "'N', :u, :e, 'us', 'unspecified', 'metric', 'regular', true, 'monday', 'euro', false,"
    " false, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP"
)


async def test_usernames_unique_case_insensitively_in_the_database(empty_url: str) -> None:
    await migrate.upgrade_async(empty_url)
    engine = make_engine(empty_url)
    insert = text(f"INSERT INTO users ({USER_COLUMNS}) VALUES ({USER_VALUES})")
    async with engine.begin() as conn:
        await conn.execute(insert, {"u": "Alice", "e": "alice@example.com"})
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert, {"u": "ALICE", "e": "bob@example.com"})
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM users"))).scalar_one()
    await engine.dispose()
    assert count == 1


async def test_email_keys_unique_in_the_database(empty_url: str) -> None:
    await migrate.upgrade_async(empty_url)
    engine = make_engine(empty_url)
    insert = text(f"INSERT INTO users ({USER_COLUMNS}, email_key) VALUES ({USER_VALUES}, :k)")
    async with engine.begin() as conn:
        await conn.execute(
            insert, {"u": "alice", "e": "Ärger@x.org", "k": email_key("Ärger@x.org")}
        )
        # accounts that do not own their address (no key) may share it
        await conn.execute(insert, {"u": "dee", "e": "ärger@x.org", "k": None})
        await conn.execute(insert, {"u": "dum", "e": "ärger@x.org", "k": None})
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(
                insert, {"u": "bob", "e": "ärger@x.org", "k": email_key("ärger@x.org")}
            )
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM users"))).scalar_one()
    await engine.dispose()
    assert count == 3


CHILD_TABLES = (
    "user_privacy_settings",
    "user_integrations",
    "user_identity_providers",
    "sessions",
    "rotated_refresh_tokens",
    "one_time_tokens",
    "mfa_backup_codes",
    "api_tokens",
)


async def _arrange_at_0002(url: str) -> None:
    """Two users with a row in every table that refers to users, made at revision 0002."""
    await asyncio.to_thread(migrate.upgrade, url, "0002")
    engine = make_engine(url)
    now = "CURRENT_TIMESTAMP"
    async with engine.begin() as conn:
        for n, email in ((1, "Ärger@X.org"), (2, "josé@x.org")):
            await conn.execute(
                text(f"INSERT INTO users (id, {USER_COLUMNS}) VALUES (:id, {USER_VALUES})"),
                {"id": n, "u": f"u{n}", "e": email},
            )
            uid = {"uid": n, "s": str(n), "h": bytes([n]) * 32, "h2": bytes([n + 10]) * 32}
            statements = [
                "INSERT INTO user_privacy_settings (user_id, default_activity_visibility,"
                + ", ".join(f" hide_activity_{f}" for f in HIDE)
                + ") VALUES (:uid, 'public'"
                + ", false" * len(HIDE)
                + ")",
                "INSERT INTO user_integrations (user_id, strava_linked, garminconnect_linked)"
                " VALUES (:uid, false, false)",
                "INSERT INTO user_identity_providers (user_id, provider, subject, created_at)"
                f" VALUES (:uid, 'p', :s, {now})",
                "INSERT INTO sessions (id, user_id, access_token_hash, access_expires_at,"
                " refresh_token_hash, refresh_expires_at, generation, created_at, last_used_at)"
                f" VALUES (:uid, :uid, :h, {now}, :h2, {now}, 0, {now}, {now})",
                "INSERT INTO rotated_refresh_tokens (token_hash, session_id, rotated_at)"
                f" VALUES (:h, :uid, {now})",
                "INSERT INTO one_time_tokens (user_id, purpose, token_hash, created_at,"
                f" expires_at) VALUES (:uid, 'password_reset', :h, {now}, {now})",
                "INSERT INTO mfa_backup_codes (user_id, code_hash, created_at)"
                f" VALUES (:uid, :h, {now})",
                "INSERT INTO api_tokens (user_id, name, token_prefix, token_hash, scopes,"
                f" created_at) VALUES (:uid, 't', 'sgp_', :h, 'users:read', {now})",
            ]
            for statement in statements:
                await conn.execute(text(statement), uid)
    await engine.dispose()


async def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        counts = {
            t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
            for t in ("users", *CHILD_TABLES)
        }
    await engine.dispose()
    return counts


async def test_upgrade_keeps_every_row_and_keys_existing_addresses(empty_url: str) -> None:
    await _arrange_at_0002(empty_url)
    before = await _counts(empty_url)
    assert set(before.values()) == {2}
    await migrate.upgrade_async(empty_url)
    assert await _counts(empty_url) == before
    engine = make_engine(empty_url)
    async with engine.connect() as conn:
        keys = (await conn.execute(text("SELECT id, email_key FROM users ORDER BY id"))).all()
    await engine.dispose()
    assert [tuple(k) for k in keys] == [(1, "ärger@x.org"), (2, "josé@x.org")]


@pytest.mark.parametrize(
    "emails",
    [
        pytest.param(("jos\u00e9@x.org", "jose\u0301@x.org"), id="nfc-nfd"),
        pytest.param(("Ärger@x.org", "ärger@x.org"), id="umlaut-case"),
    ],
)
async def test_upgrade_aborts_on_colliding_addresses(
    empty_url: str, emails: tuple[str, str]
) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_url, "0002")
    engine = make_engine(empty_url)
    insert = text(f"INSERT INTO users (id, {USER_COLUMNS}) VALUES (:id, {USER_VALUES})")
    try:
        async with engine.begin() as conn:
            await conn.execute(insert, {"id": 7, "u": "first", "e": emails[0]})
            await conn.execute(insert, {"id": 9, "u": "second", "e": emails[1]})
    except IntegrityError:
        # PostgreSQL's lower() already folds this pair, so 0002's index refuses it: fine,
        # but SQLite's ASCII-only lower() must not (that is the collision 0003 detects).
        await engine.dispose()
        assert not empty_url.startswith("sqlite")
        return
    with pytest.raises(RuntimeError, match=r"users 7, 9"):
        await migrate.upgrade_async(empty_url)
    assert await migrate.current_revision(engine) == "0002"
    async with engine.connect() as conn:
        columns = await conn.run_sync(
            lambda c: {x["name"] for x in inspect(c).get_columns("users")}
        )
        emails_after = (await conn.execute(text("SELECT email FROM users ORDER BY id"))).scalars()
        emails_after = list(emails_after)
    await engine.dispose()
    assert "email_key" not in columns
    assert emails_after == list(emails)


async def test_sqlite_tables_are_autoincrement(empty_url: str) -> None:
    if not empty_url.startswith("sqlite"):
        pytest.skip("PostgreSQL sequences never reuse ids")
    await migrate.upgrade_async(empty_url)
    engine = make_engine(empty_url)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type='table'"))
        ).all()
    await engine.dispose()
    sql = {name: ddl for name, ddl in rows}
    for table in Base.metadata.sorted_tables:
        if table.kwargs.get("sqlite_autoincrement"):
            assert "AUTOINCREMENT" in sql[table.name], table.name
    assert {
        t.name for t in Base.metadata.sorted_tables if t.kwargs.get("sqlite_autoincrement")
    } >= {
        "users",
        "sessions",
        "api_tokens",
        "one_time_tokens",
        "mfa_backup_codes",
        "user_identity_providers",
        "login_attempts",
    }
