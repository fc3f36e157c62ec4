"""A real PgBouncer in transaction mode in front of the tests' PostgreSQL.

Debian's ``pgbouncer`` on a free port with a generated ini in a fresh directory. The pool is
deliberately SMALL (``default_pool_size = 3``): consecutive transactions of one client
connection then really land on different server connections, which is what breaks
session state (prepared statements, session-scoped locks, ``SET``) and so what the tests
must exercise. PgBouncer refuses to run as root, so as root it runs as ``postgres``
(``-u postgres``) in a directory that user owns. Missing binary: skip locally, fail under
CI=true (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.pg import PostgresServer, _probe

IN_CI = os.environ.get("CI", "").lower() == "true"
POOL_SIZE = 3


def find_pgbouncer() -> str | None:
    return shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )


@dataclass
class PgBouncer:
    """A running PgBouncer; ``url_for`` names a database on the PostgreSQL behind it."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # immediate shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.directory, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_pgbouncer(binary: str, postgres: PostgresServer) -> PgBouncer:
    """Write the ini, start PgBouncer in the foreground, wait until a query goes through."""
    target = urlsplit(postgres.admin_url.replace("+asyncpg", ""))
    host, pg_port = target.hostname or "127.0.0.1", target.port or 5432
    user = target.username or "postgres"
    # pytest's temp dirs are private to root; the postgres user must write its log here
    directory = Path(tempfile.mkdtemp(prefix="stridegraph-pgbouncer-"))
    port = _free_port()
    (directory / "userlist.txt").write_text(f'"{user}" ""\n')
    (directory / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={host} port={pg_port}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {directory / 'userlist.txt'}",
                f"admin_users = {user}",
                "pool_mode = transaction",
                f"default_pool_size = {POOL_SIZE}",
                "min_pool_size = 0",
                "reserve_pool_size = 0",
                "max_client_conn = 500",
                "max_db_connections = 0",
                "ignore_startup_parameters = extra_float_digits",
                f"logfile = {directory / 'pgbouncer.log'}",
                f"pidfile = {directory / 'pgbouncer.pid'}",
                "",
            ]
        )
    )
    command = [binary]
    if os.geteuid() == 0:
        for path in [directory, *directory.iterdir()]:
            shutil.chown(path, "postgres")
        command += ["-u", "postgres"]
    process = subprocess.Popen(
        [*command, str(directory / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bouncer = PgBouncer(port, directory, process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = bouncer.log()
            bouncer.stop()
            raise RuntimeError(f"pgbouncer exited early:\n{log}")
        if _probe(bouncer.url_for("postgres")):
            return bouncer
        time.sleep(0.1)
    log = bouncer.log()
    bouncer.stop()
    raise RuntimeError(f"pgbouncer did not start:\n{log}")


@pytest.fixture(scope="session")
def pgbouncer(postgres_server: PostgresServer | None) -> Iterator[PgBouncer]:
    """One PgBouncer (transaction mode, a pool of 3) for the whole run."""
    if postgres_server is None:
        if IN_CI:
            pytest.fail("PostgreSQL is required under CI=true")
        pytest.skip("PostgreSQL not available")
    binary = find_pgbouncer()
    if binary is None:
        if IN_CI:
            pytest.fail("pgbouncer is required under CI=true (.ci/run installs it)")
        pytest.skip("pgbouncer not installed (apt-get install pgbouncer)")
    bouncer = start_pgbouncer(binary, postgres_server)
    yield bouncer
    bouncer.stop()
