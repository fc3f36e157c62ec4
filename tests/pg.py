"""Finding a PostgreSQL server for the tests, or starting a throwaway one."""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@dataclass
class PostgresServer:
    """A reachable server; ``admin_url`` names a database we may connect to for CREATE/DROP."""

    admin_url: str
    cluster_dir: Path | None = None
    pg_ctl: str | None = None

    def _dsn(self, database: str | None = None) -> str:
        parts = urlsplit(self.admin_url.replace("+asyncpg", ""))
        path = f"/{database}" if database else parts.path
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))

    def url_for(self, database: str) -> str:
        return self._dsn(database).replace("postgresql://", "postgresql+asyncpg://", 1)

    async def create_database(self, name: str) -> str:
        conn = await asyncpg.connect(self._dsn(), timeout=5)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url_for(name)

    async def drop_database(self, name: str) -> None:
        conn = await asyncpg.connect(self._dsn(), timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    def stop(self) -> None:
        if self.cluster_dir and self.pg_ctl:
            _as_postgres(
                [self.pg_ctl, "-D", str(self.cluster_dir / "data"), "-m", "immediate", "stop"]
            )


async def _reachable(url: str) -> bool:
    dsn = url.replace("+asyncpg", "")
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def _probe(url: str) -> bool:
    """Check reachability from a fresh thread (callers may be inside a running loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _reachable(url)).result()


def _as_postgres(cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
    if os.geteuid() == 0 and shutil.which("runuser"):
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, timeout=60, check=False)


def _start_cluster() -> PostgresServer | None:
    """initdb + pg_ctl from the installed binaries, on a free port, in a fresh directory under
    the system temp dir (pytest's own temp dirs are private to root, and PostgreSQL refuses to
    run as root, so the cluster runs as the ``postgres`` user)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        return None
    bindir = Path(found[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="stridegraph-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    if _as_postgres(
        [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    ).returncode:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = _as_postgres(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(base / "log"),
            "-w",
            "start",
        ]
    )
    if started.returncode:
        return None
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _probe(url):
            return PostgresServer(url, cluster_dir=base, pg_ctl=str(bindir / "pg_ctl"))
        time.sleep(0.2)
    return None


def find_postgres() -> PostgresServer | None:
    configured = os.environ.get("STRIDEGRAPH_TEST_DATABASE_URL")
    if configured:
        return PostgresServer(configured) if _probe(configured) else None
    if _probe(DEFAULT_URL):
        return PostgresServer(DEFAULT_URL)
    return _start_cluster()
