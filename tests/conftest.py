"""Test infrastructure: real SQLite and PostgreSQL, a real SMTP server, the ASGI app through
httpx, and the real server under uvicorn.

Every test that takes the ``db`` fixture (directly or through ``services``/``client``) runs
once on SQLite and once on PostgreSQL. PostgreSQL comes from STRIDEGRAPH_TEST_DATABASE_URL,
else 127.0.0.1:5432 as user postgres, else a throwaway cluster started from the installed
binaries. Each run creates a fresh database and drops it afterwards; under CI=true a missing
PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from stridegraph.app import create_app
from stridegraph.config import Settings
from stridegraph.db import migrate
from stridegraph.db.engine import make_engine, make_session_factory
from stridegraph.db.models import Base, ServerSettings
from stridegraph.db.round_trips import counter_for
from stridegraph.domain.crypto import SecretCipher
from stridegraph.domain.mail import Mailer
from stridegraph.domain.passwords import PasswordService
from stridegraph.domain.unit import Services, Unit
from tests.pg import PostgresServer, find_postgres
from tests.smtp import SmtpSink

IN_CI = os.environ.get("CI", "").lower() == "true"

# Cheap argon2 for tests: the hashing code path is identical, only the cost differs.
FAST_HASH = {"argon2_time_cost": 1, "argon2_memory_cost": 1024, "argon2_parallelism": 1}


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": "test-secret-key-" + "x" * 32,
        "encryption_keys": ("test-encryption-key-" + "y" * 32,),
        "data_dir": data_dir,
        "public_url": "http://testserver",
        **FAST_HASH,
    }
    values.update(overrides)
    return Settings(**values)


# --------------------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    server = find_postgres()
    if server is None and IN_CI:
        pytest.fail("PostgreSQL is required under CI=true and none could be reached or started")
    yield server
    if server is not None:
        server.stop()


@dataclass
class Database:
    """A migrated database for this run; ``reset`` empties it between tests."""

    backend: str
    url: str
    engine: AsyncEngine

    async def reset(self) -> None:
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        async with self.engine.begin() as conn:
            if self.backend == "postgresql":
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    await conn.execute(text(f"DELETE FROM {table}"))
                # AUTOINCREMENT remembers used ids; restart them like PostgreSQL's identities
                await conn.execute(text("DELETE FROM sqlite_sequence"))
        factory = make_session_factory(self.engine)
        async with factory() as session:
            session.add(ServerSettings(id=1))
            await session.commit()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
        await migrate.upgrade_async(url)
        engine = make_engine(url)
        yield Database("sqlite", url, engine)
        await engine.dispose()
        return
    server: PostgresServer | None = request.getfixturevalue("postgres_server")
    if server is None:
        pytest.skip("PostgreSQL not available (set STRIDEGRAPH_TEST_DATABASE_URL)")
    name = f"stridegraph_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = await server.create_database(name)
    await migrate.upgrade_async(url)
    engine = make_engine(url, pool_size=20)
    try:
        yield Database("postgresql", url, engine)
    finally:
        await engine.dispose()
        await server.drop_database(name)


@pytest.fixture
async def db(database: Database) -> Database:
    """An empty, migrated database (SQLite and PostgreSQL)."""
    await database.reset()
    return database


@pytest.fixture
def backend(db: Database) -> str:
    return db.backend


# --------------------------------------------------------------------------- services and app


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return make_settings(db.url, tmp_path / "data")


def build_services(settings: Settings, database: Database) -> Services:
    """The services a test's app shares (close with :func:`close_services`)."""
    return Services(
        settings=settings,
        sessions=make_session_factory(database.engine),
        passwords=PasswordService(settings),
        mailer=Mailer(settings.smtp_url, settings.mail_from, base_delay=0.05),
        cipher=SecretCipher(settings.encryption_keys),
    )


async def close_services(built: Services) -> None:
    await built.mailer.stop()
    built.passwords.close()


@pytest.fixture
async def services(settings: Settings, db: Database) -> AsyncIterator[Services]:
    built = build_services(settings, db)
    yield built
    await close_services(built)


@pytest.fixture
async def unit(services: Services) -> AsyncIterator[Unit]:
    """A unit of work for arranging data through the domain layer (commit it yourself)."""
    async with services.sessions() as session:
        yield Unit(services=services, session=session)


def multipart_fields(
    query: str, variables: dict[str, Any], files: dict[str, tuple[str, bytes, str]]
) -> dict[str, Any]:
    """httpx ``data`` and ``files`` for the GraphQL multipart request spec (operations, map,
    then one part per file); each key of ``files`` is the variable the file fills."""
    names = list(files)
    operations = {"query": query, "variables": {**variables, **dict.fromkeys(names)}}
    mapping = {str(i): [f"variables.{name}"] for i, name in enumerate(names)}
    return {
        "data": {"operations": json.dumps(operations), "map": json.dumps(mapping)},
        "files": {str(i): files[name] for i, name in enumerate(names)},
    }


class GraphQLClient:
    """Runs operations through the ASGI app, as an HTTP client would."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def upload(
        self,
        query: str,
        variables: dict[str, Any] | None,
        files: dict[str, tuple[str, bytes, str]],
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A GraphQL multipart request (with the CSRF-prevention header unless ``headers``
        are given); ``files`` maps variable names to (filename, bytes, content type)."""
        all_headers = {"Apollo-Require-Preflight": "true"} if headers is None else dict(headers)
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        fields = multipart_fields(query, variables or {}, files)
        return await self.http.post("/graphql", headers=all_headers, **fields)

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        """Execute and insist on no top-level errors."""
        body = await self.execute(query, variables, **kw)
        assert not body.get("errors"), body["errors"]
        return body["data"]  # type: ignore[no-any-return]


@pytest.fixture
async def app(settings: Settings, services: Services) -> Any:
    return create_app(settings, services=services)


@dataclass
class SharedApp:
    settings: Settings
    services: Services
    app: Any


def share_app_per_module() -> tuple[Any, Any, Any, Any]:
    """Fixtures for a module whose tests may share one app per database: assign them as
    ``shared_app, settings, services, app = share_app_per_module()`` in the module.

    Building the app (its schema) is most of an in-process test's set-up (~0.04 s). A module
    may share it when its tests depend only on the database, which every one of these
    fixtures still empties first (through ``db``), not on a fresh app's memory (document
    cache, metrics, persisted queries), and none changes the settings or the services
    in place (what a test assigns to ``services.clock`` or ``services.settings`` is put back
    after it). The data directory is emptied before each test.
    """

    @pytest.fixture(scope="module", name="shared_app")
    async def shared_app_(
        database: Database, tmp_path_factory: pytest.TempPathFactory
    ) -> AsyncIterator[SharedApp]:
        shared_settings = make_settings(database.url, tmp_path_factory.mktemp("app") / "data")
        built = build_services(shared_settings, database)
        yield SharedApp(shared_settings, built, create_app(shared_settings, services=built))
        await close_services(built)

    @pytest.fixture(name="settings")
    def settings_(db: Database, shared_app: SharedApp) -> Settings:
        # a fresh data directory too (photos, exports), as each test had its own
        shutil.rmtree(shared_app.settings.data_dir, ignore_errors=True)
        return shared_app.settings

    @pytest.fixture(name="services")
    def services_(settings: Settings, shared_app: SharedApp) -> Iterator[Services]:
        # a test may assign services.clock or services.settings; the next one gets them back
        saved = dict(vars(shared_app.services))
        yield shared_app.services
        vars(shared_app.services).clear()
        vars(shared_app.services).update(saved)

    @pytest.fixture(name="app")
    def app_(settings: Settings, shared_app: SharedApp) -> Any:
        return shared_app.app

    return shared_app_, settings_, services_, app_


def asgi_client(app: Any) -> httpx.AsyncClient:
    """httpx over ASGI to ``app``, from a fixed client address (no lifespan is run)."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


# --------------------------------------------------------------------------- statement counting


@dataclass
class StatementCounter:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def sql_counter(db: Database) -> Iterator[StatementCounter]:
    counter = StatementCounter()

    def record(statement: str) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "PRAGMA")):
            counter.statements.append(statement)

    # every statement sent, through SQLAlchemy or straight on the driver (db/fast_read.py)
    round_trips = counter_for(db.engine)
    round_trips.watch(record)
    yield counter
    round_trips.unwatch(record)


# --------------------------------------------------------------------------- mail


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on a free port, collecting what it receives."""
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


# --------------------------------------------------------------------------- real server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    env: dict[str, str],
    tmp: Path,
    *,
    workers: int = 1,
    timeout: float = 30,
    port: int | None = None,
) -> LiveServer:
    port = port or free_port()
    log_path = tmp / f"server-{port}.log"
    full_env = {**os.environ, **env}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stridegraph.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=full_env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return LiveServer(url, process, log_path)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start:\n{log_path.read_text()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        "STRIDEGRAPH_DATABASE_URL": settings.database_url,
        "STRIDEGRAPH_SECRET_KEY": settings.secret_key,
        "STRIDEGRAPH_ENCRYPTION_KEY": ",".join(settings.encryption_keys),
        "STRIDEGRAPH_DATA_DIR": str(settings.data_dir),
        "STRIDEGRAPH_PUBLIC_URL": settings.public_url,
        "STRIDEGRAPH_ARGON2_TIME_COST": str(settings.argon2_time_cost),
        "STRIDEGRAPH_ARGON2_MEMORY_COST": str(settings.argon2_memory_cost),
        "STRIDEGRAPH_ARGON2_PARALLELISM": str(settings.argon2_parallelism),
    }
    env.update(extra)
    return env


@pytest.fixture
def live_server(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    """The real server under uvicorn on a free port, on this test's database."""
    server = start_server(server_env(settings), tmp_path)
    yield server
    stop_server(server)


# --------------------------------------------------------------------------- PgBouncer

from tests.pgbouncer import pgbouncer  # noqa: E402, F401  (the session fixture, tests/pgbouncer.py)
