"""The ``stridegraph`` command: migrate, create-admin, export-schema, and serve's start-up
checks (SQLite migrates itself; an unmigrated or unreachable PostgreSQL refuses to start)."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import httpx
import pytest

from stridegraph.graph.schema import export_sdl
from tests.conftest import start_server, stop_server
from tests.test_config import KEY, run_cli

ROOT = Path(__file__).resolve().parents[1]
ADMIN_PASSWORD = "a long admin password 1!"


def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {
        "STRIDEGRAPH_DATA_DIR": str(tmp_path / "data"),
        "STRIDEGRAPH_ARGON2_TIME_COST": "1",
        "STRIDEGRAPH_ARGON2_MEMORY_COST": "1024",
        "STRIDEGRAPH_ARGON2_PARALLELISM": "1",
    }


def test_schema_graphql_is_the_exported_schema() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == export_sdl(), (
        "schema.graphql is stale: run `stridegraph export-schema > schema.graphql`"
    )


def test_export_schema_prints_the_sdl(tmp_path: Path) -> None:
    result = run_cli("export-schema", env={"STRIDEGRAPH_LOG_LEVEL": "nonsense"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == export_sdl()
    assert "type Query" in result.stdout and '@key(fields: "id")' in result.stdout


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    for _ in range(2):
        result = run_cli("migrate", env=env)
        assert result.returncode == 0, result.stderr
        assert "database at revision" in result.stdout
    db = sqlite3.connect(tmp_path / "data" / "stridegraph.sqlite3")
    assert db.execute("SELECT count(*) FROM server_settings").fetchone() == (1,)


def admin_rows(tmp_path: Path) -> list[tuple[str, str, int]]:
    db = sqlite3.connect(tmp_path / "data" / "stridegraph.sqlite3")
    return db.execute("SELECT username, access_type, email_verified FROM users").fetchall()


def test_create_admin_from_stdin(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    result = run_cli(
        "create-admin",
        "--username",
        "root",
        "--email",
        "root@example.com",
        "--password-stdin",
        env=env,
        stdin=ADMIN_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "created administrator root" in result.stdout
    assert admin_rows(tmp_path) == [("root", "admin", 1)]
    assert ADMIN_PASSWORD not in result.stdout + result.stderr


def test_create_admin_from_the_prompt(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    result = run_cli(
        "create-admin",
        "--username",
        "root",
        "--email",
        "root@example.com",
        env=env,
        stdin=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n",
    )
    assert result.returncode == 0, result.stderr
    assert admin_rows(tmp_path) == [("root", "admin", 1)]


def test_create_admin_refuses_mismatched_prompts(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    result = run_cli(
        "create-admin",
        "--username",
        "root",
        "--email",
        "root@example.com",
        env=env,
        stdin=f"{ADMIN_PASSWORD}\nsomething else\n",
    )
    assert result.returncode == 1
    assert "do not match" in result.stderr


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short pw 1!", "at least 12"),
        ("root", "at least 12"),
        ("root@example.com", "must not equal"),
    ],
)
def test_create_admin_applies_the_admin_password_policy(
    tmp_path: Path, password: str, message: str
) -> None:
    env = sqlite_env(tmp_path)
    result = run_cli(
        "create-admin",
        "--username",
        "root",
        "--email",
        "root@example.com",
        "--password-stdin",
        env=env,
        stdin=password + "\n",
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert admin_rows(tmp_path) == []


def test_create_admin_refuses_a_taken_username(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    args = ("create-admin", "--username", "root", "--email", "root@example.com", "--password-stdin")
    assert run_cli(*args, env=env, stdin=ADMIN_PASSWORD).returncode == 0
    again = run_cli(
        "create-admin",
        "--username",
        "ROOT",
        "--email",
        "other@example.com",
        "--password-stdin",
        env=env,
        stdin=ADMIN_PASSWORD,
    )
    assert again.returncode == 1
    assert "username" in again.stderr.lower()
    assert len(admin_rows(tmp_path)) == 1


def test_serve_on_sqlite_migrates_on_start(tmp_path: Path) -> None:
    server = start_server(sqlite_env(tmp_path), tmp_path)
    try:
        body = httpx.post(
            f"{server.url}/graphql", json={"query": "{ serverSettings { passwordMinLengthAdmin } }"}
        ).json()
        assert body == {"data": {"serverSettings": {"passwordMinLengthAdmin": 12}}}
        assert httpx.get(f"{server.url}/readyz").status_code == 200
    finally:
        stop_server(server)


async def test_serve_refuses_an_unmigrated_postgresql(tmp_path: Path, postgres_server) -> None:
    if postgres_server is None:
        pytest.skip("PostgreSQL not available")
    name = f"stridegraph_cli_{uuid.uuid4().hex[:8]}"
    url = await postgres_server.create_database(name)
    try:
        env = {
            "STRIDEGRAPH_DATABASE_URL": url,
            "STRIDEGRAPH_SECRET_KEY": KEY,
            "STRIDEGRAPH_ENCRYPTION_KEY": KEY,
        }
        result = run_cli("serve", "--port", "1", env=env)
        assert result.returncode == 1
        assert result.stderr.strip().count("\n") == 0
        assert "stridegraph migrate" in result.stderr
        migrated = run_cli("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
    finally:
        await postgres_server.drop_database(name)


def test_serve_refuses_an_unreachable_database(tmp_path: Path) -> None:
    env = {
        "STRIDEGRAPH_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:9/none",
        "STRIDEGRAPH_SECRET_KEY": KEY,
        "STRIDEGRAPH_ENCRYPTION_KEY": KEY,
    }
    result = run_cli("serve", env=env)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr
