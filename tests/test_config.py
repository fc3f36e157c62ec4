"""Configuration: parsed from STRIDEGRAPH_* variables, validated, keys kept in DATA_DIR."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from stridegraph.config import ConfigError, load_settings

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/stridegraph"
KEY = "k" * 40


def run_cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STRIDEGRAPH_")}
    return subprocess.run(
        [sys.executable, "-m", "stridegraph.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout,
        check=False,
    )


def test_embedded_defaults(tmp_path: Path) -> None:
    settings = load_settings({"STRIDEGRAPH_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'stridegraph.sqlite3'}"
    assert settings.is_sqlite and not settings.mail_enabled
    assert settings.log_level == "INFO" and settings.port == 8000


def test_embedded_keys_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_settings({"STRIDEGRAPH_DATA_DIR": str(tmp_path)})
    for name in ("secret_key", "encryption_key"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, oct(mode)
    second = load_settings({"STRIDEGRAPH_DATA_DIR": str(tmp_path)})
    assert second.secret_key == first.secret_key
    assert second.encryption_keys == first.encryption_keys
    assert len(first.secret_key) >= 32


def test_postgresql_requires_keys(tmp_path: Path) -> None:
    env = {"STRIDEGRAPH_DATA_DIR": str(tmp_path), "STRIDEGRAPH_DATABASE_URL": PG}
    with pytest.raises(ConfigError) as error:
        load_settings(env)
    assert error.value.variable == "STRIDEGRAPH_SECRET_KEY"
    assert not (tmp_path / "secret_key").exists()
    with pytest.raises(ConfigError) as error:
        load_settings({**env, "STRIDEGRAPH_SECRET_KEY": KEY})
    assert error.value.variable == "STRIDEGRAPH_ENCRYPTION_KEY"
    settings = load_settings(
        {**env, "STRIDEGRAPH_SECRET_KEY": KEY, "STRIDEGRAPH_ENCRYPTION_KEY": f"{KEY}1,{KEY}2"}
    )
    assert settings.encryption_keys == (f"{KEY}1", f"{KEY}2")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://root@localhost/x"),
        ("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:notaport/db"),
        ("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/"),
        ("LOG_LEVEL", "LOUD"),
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("ACCESS_TOKEN_TTL", "-5"),
        ("INTROSPECTION", "maybe"),
        ("SMTP_URL", "http://mail.example.com"),
        ("PUBLIC_URL", "not a url"),
        ("TRUSTED_PROXIES", "10.0.0.0/99"),
        ("SECRET_KEY", "short"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({"STRIDEGRAPH_DATA_DIR": str(tmp_path), f"STRIDEGRAPH_{variable}": value})
    assert error.value.variable == f"STRIDEGRAPH_{variable}"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DATABASE_URL", "mysql://x"), ("LOG_LEVEL", "LOUD"), ("PORT", "abc")],
)
def test_cli_prints_one_line_and_exits_2(tmp_path: Path, variable: str, value: str) -> None:
    result = run_cli(
        "migrate", env={"STRIDEGRAPH_DATA_DIR": str(tmp_path), f"STRIDEGRAPH_{variable}": value}
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"STRIDEGRAPH_{variable}" in lines[0]
    assert "Traceback" not in result.stderr


def test_transaction_pooler_setting_defaults_off_and_parses() -> None:
    base = {"STRIDEGRAPH_DATABASE_URL": "sqlite+aiosqlite:///:memory:"}
    assert load_settings(base).db_transaction_pooler is False
    assert load_settings(base | {"STRIDEGRAPH_DB_TRANSACTION_POOLER": "true"}).db_transaction_pooler
    with pytest.raises(ConfigError):
        load_settings(base | {"STRIDEGRAPH_DB_TRANSACTION_POOLER": "sometimes"})
