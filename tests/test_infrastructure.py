"""The test infrastructure itself: PostgreSQL discovery and the CI=true rule."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg import _probe, _start_cluster

ROOT = Path(__file__).resolve().parents[1]


def test_missing_postgresql_fails_under_ci() -> None:
    env = {
        **os.environ,
        "CI": "true",
        "STRIDEGRAPH_TEST_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:9/postgres",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_me.py::test_server_settings_defaults_and_stored_values",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    assert "PostgreSQL is required under CI=true" in result.stdout


@pytest.mark.skipif(
    not shutil.which("runuser") and os.geteuid() == 0, reason="needs runuser to drop root"
)
def test_throwaway_cluster_from_installed_binaries() -> None:
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("no PostgreSQL binaries installed")
    server = _start_cluster()
    assert server is not None
    try:
        assert _probe(server.admin_url)
        name = "throwaway_check"
        url = asyncio.run(server.create_database(name))
        assert _probe(url)
        asyncio.run(server.drop_database(name))
    finally:
        server.stop()
    assert not _probe(server.admin_url)
