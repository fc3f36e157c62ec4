"""The ``stridegraph`` command: serve, migrate, create-admin, gc-photos, purge, export-schema.

Start-up problems (bad configuration, unreachable database, unmigrated PostgreSQL) print one
line to stderr and exit non-zero: 2 for configuration, 1 for the rest. No tracebacks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from stridegraph.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    import uvicorn

    from stridegraph.domain.account_import import ImportReport
    from stridegraph.domain.retention import PurgeReport


class StartupError(Exception):
    """Something outside the configuration keeps us from starting; the message says what."""


def _fail(message: str, code: int) -> int:
    print(f"stridegraph: {message}", file=sys.stderr)
    return code


async def _check_database(settings: Settings, *, migrate_sqlite: bool) -> None:
    """Make sure the database answers and is at the head revision (SQLite: migrate it)."""
    from stridegraph.db import migrate
    from stridegraph.db.engine import engine_for

    engine = engine_for(settings)
    try:
        try:
            current = await asyncio.wait_for(migrate.current_revision(engine), timeout=10)
        except Exception as exc:
            raise StartupError(
                f"cannot reach the database ({type(exc).__name__}): check STRIDEGRAPH_DATABASE_URL"
            ) from None
        if current == migrate.head_revision():
            return
        if settings.is_sqlite and migrate_sqlite:
            await migrate.upgrade_async(settings.database_url)
            return
        raise StartupError(
            f"the database is at revision {current or 'none'}, not {migrate.head_revision()}: "
            "run `stridegraph migrate` first"
        )
    finally:
        await engine.dispose()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """uvicorn, as ``uvicorn.run`` would start it, with the stop made graceful.

    On SIGTERM each worker stops accepting, lets in-flight requests finish for up to
    ``SHUTDOWN_GRACE`` seconds (then cancels them: their transactions roll back), and runs
    the app's lifespan shutdown (``app.py``). Two things ``uvicorn.run`` does not do: after
    its graceful stop uvicorn re-raises the signal for the handler it replaced, which for
    SIGTERM is the default one, so the process would die of the signal (exit -15) instead
    of exiting 0; and with several workers its supervisor notices a signal only at its next
    half-second poll and keeps the listening socket open until every worker is gone, so
    connections made meanwhile would be accepted into the backlog and hang for the grace
    period before being reset. See :func:`_supervise`.
    """
    import uvicorn

    from stridegraph import tracing
    from stridegraph.logs import configure_logging, logging_config

    settings = _served_settings(args)
    tracing.require(settings)
    has_admin = _preflight_in_child()
    configure_logging(settings.log_level)
    if not has_admin:
        logging.getLogger("stridegraph.setup").warning(first_admin_hint(settings))
    config = uvicorn.Config(
        "stridegraph.app:app_from_env",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        # uvloop and httptools (dependencies of ours) when installed, named rather than "auto"
        # so the fast path is not lost silently; the access log stays off (ours is richer)
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        # the schema has no subscriptions, so no WebSocket to serve: without a WebSocket
        # implementation loaded a worker is about 1 MB smaller (an upgrade request is
        # answered as plain HTTP)
        ws="none",
        # every worker applies it first: uvicorn's own lines are our JSON too, uncoloured
        log_config=logging_config(settings.log_level),
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    if config.workers > 1:
        _supervise(config)
        return 0
    server = uvicorn.Server(config)
    # the re-raised SIGTERM lands here once the graceful stop is over: nothing left to do
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn re-raises SIGINT too
        server.run()
    return 0 if server.started else 3  # 3: uvicorn's code for a worker that failed to start


def _served_settings(args: argparse.Namespace) -> Settings:
    """The settings with ``--host``/``--port`` applied. They go into the environment, which
    every worker reads (``app.app_from_env``), so that PUBLIC_URL's default is the address
    really served."""
    if args.host:
        os.environ["STRIDEGRAPH_HOST"] = args.host
    if args.port:
        os.environ["STRIDEGRAPH_PORT"] = str(args.port)
    return load_settings()


def _preflight_in_child() -> bool:
    """Serve's pre-flight (the database answers, is at the head revision, SQLite migrated;
    is there an administrator?) in a short-lived child process, and whether there is an
    administrator.

    Why a child: the check needs Alembic (about 10 MB once its script directory is loaded)
    and with one worker this process becomes the worker, which would carry it for its whole
    life without ever using it again. The child reads the same settings from the same
    environment (``_served_settings`` put ``--host``/``--port`` there) and answers with one
    JSON line on stdout: ``{"admin": bool}`` or ``{"error": message}``.
    """
    code = "from stridegraph.cli import _preflight_child; _preflight_child()"
    child = subprocess.run(  # noqa: S603  (our own interpreter and code, no input)
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, check=False
    )
    try:
        answer = json.loads(child.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        answer = {"error": f"the start-up check failed (exit {child.returncode})"}
    if child.returncode == 130:
        raise KeyboardInterrupt
    if "error" in answer:
        raise StartupError(str(answer["error"]))
    return bool(answer["admin"])


def _preflight_child() -> None:
    """The child's side of :func:`_preflight_in_child`; its stderr is the server's."""
    try:
        settings = load_settings()
        asyncio.run(_check_database(settings, migrate_sqlite=True))
        answer: dict[str, object] = {"admin": asyncio.run(_has_admin(settings))}
    except (StartupError, ConfigError) as exc:
        answer = {"error": str(exc)}
    except KeyboardInterrupt:
        sys.exit(130)
    print(json.dumps(answer), flush=True)


async def _has_admin(settings: Settings) -> bool:
    from stridegraph.db.engine import engine_for, make_session_factory
    from stridegraph.db.users import active_admin_ids

    engine = engine_for(settings)
    try:
        async with make_session_factory(engine)() as session:
            return bool(await active_admin_ids(session))
    finally:
        await engine.dispose()


def first_admin_hint(settings: Settings) -> str:
    """The one line a newcomer needs: sign-up is off and no one can sign in yet."""
    program = sys.argv[0] if os.path.basename(sys.argv[0]) == "stridegraph" else "stridegraph"
    return (
        f"no administrator yet: create one with `{program} create-admin --username admin "
        f"--email admin@example.com` (it asks for a password), then sign in with the login "
        f"mutation in GraphiQL at {settings.public_url}/graphql"
    )


def _supervise(config: uvicorn.Config) -> None:
    """uvicorn's multi-worker supervisor, told of SIGTERM/SIGINT at once: the parent's copy of
    the listening socket is closed (the workers close theirs as they stop), so new
    connections are refused rather than queued, and the signal goes on to every worker
    immediately rather than at the supervisor's next poll."""
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    supervisor = Multiprocess(config, sockets=[sock])

    def stop_now(signum: int, frame: FrameType | None) -> None:
        if len(supervisor.processes) >= supervisor.processes_num:  # all started: none needs it
            sock.close()
        for process in supervisor.processes:
            process.terminate()
        supervisor.signal_queue.append(signum)  # the supervisor's own handling, as before

    signal.signal(signal.SIGTERM, stop_now)
    signal.signal(signal.SIGINT, stop_now)
    supervisor.run()


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from stridegraph.db import migrate

    try:
        migrate.upgrade(settings.database_url)
    except Exception as exc:
        from stridegraph.logs import scrub

        first_line = scrub(str(exc)).splitlines()[0][:200]
        raise StartupError(f"migration failed ({type(exc).__name__}): {first_line}") from None
    print(f"database at revision {migrate.head_revision()}")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise StartupError("the passwords do not match")
    return first


async def _create_admin(
    settings: Settings, username: str, email: str, name: str, password: str
) -> None:
    from stridegraph.app import build_services
    from stridegraph.db.engine import engine_for
    from stridegraph.domain import accounts
    from stridegraph.domain.errors import DomainError
    from stridegraph.domain.unit import open_unit

    await _check_database(settings, migrate_sqlite=True)
    engine = engine_for(settings)
    services = build_services(settings, engine)
    try:
        async with open_unit(services) as unit:
            account = accounts.NewAccount(
                username=username,
                email=email,
                name=name,
                password=password,
                access_type=accounts.AccessType.ADMIN,
                email_verified=True,
            )
            try:
                user = await unit.transaction(accounts.create_account, account=account)
            except DomainError as exc:
                raise StartupError(
                    "; ".join(f"{p.field or 'input'}: {p.message}" for p in exc.problems)
                ) from None
        print(f"created administrator {user.username} (id {user.id})")
    finally:
        services.passwords.close()
        await engine.dispose()


def cmd_create_admin(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password(args)
    asyncio.run(
        _create_admin(settings, args.username, args.email, args.name or args.username, password)
    )
    return 0


async def _gc_photos(settings: Settings) -> list[str]:
    from stridegraph.app import build_services
    from stridegraph.db.engine import engine_for
    from stridegraph.domain import photos

    await _check_database(settings, migrate_sqlite=False)
    engine = engine_for(settings)
    services = build_services(settings, engine)
    try:
        return await photos.collect_garbage(services)
    finally:
        services.passwords.close()
        await engine.dispose()


def cmd_gc_photos(args: argparse.Namespace, settings: Settings) -> int:
    """Delete photo files no user references (files younger than 10 minutes are kept for
    uploads that have not committed yet)."""
    removed = asyncio.run(_gc_photos(settings))
    print(f"removed {len(removed)} unreferenced photo file(s)")
    return 0


async def _purge(settings: Settings) -> PurgeReport:
    from stridegraph.app import build_services
    from stridegraph.db.engine import engine_for
    from stridegraph.domain import retention

    await _check_database(settings, migrate_sqlite=False)
    engine = engine_for(settings)
    services = build_services(settings, engine)
    try:
        return await retention.purge(services)
    finally:
        services.passwords.close()
        await engine.dispose()


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    """One retention round by hand (the server also runs it every ``PURGE_INTERVAL``):
    prints the rows deleted per table as one JSON line; ``skipped`` when another replica
    was purging at that moment."""
    report = asyncio.run(_purge(settings))
    line = {"purged": report.counts, "statements": report.statements, "skipped": report.skipped}
    print(json.dumps(line, sort_keys=True))
    return 0


async def _import_users(settings: Settings, lines: list[str], dry_run: bool) -> ImportReport:
    from stridegraph.app import build_services
    from stridegraph.db.engine import engine_for
    from stridegraph.domain import account_import

    await _check_database(settings, migrate_sqlite=True)
    engine = engine_for(settings)
    services = build_services(settings, engine)
    try:
        return await account_import.import_file(services, lines=lines, dry_run=dry_run)
    finally:
        services.passwords.close()
        await engine.dispose()


def cmd_import_users(args: argparse.Namespace, settings: Settings) -> int:
    """Bring accounts over from another tracker with their password hashes (the format:
    ``domain/account_import.py`` and the README). Prints one line per refused row, then a
    summary; exit status 1 when any row is refused (and then nothing was imported)."""
    try:
        with sys.stdin if args.file == "-" else open(args.file, encoding="utf-8") as source:
            lines = source.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(f"cannot read {args.file}: {exc}") from None
    report = asyncio.run(_import_users(settings, lines, args.dry_run))
    for refusal in report.refused:
        who = f" ({refusal.username})" if refusal.username else ""
        print(f"line {refusal.line}{who}: refused: {'; '.join(refusal.reasons)}")
    if report.refused:
        print(f"nothing imported: {len(report.refused)} row(s) refused")
        return 1
    verb = "dry run: would create" if report.dry_run else "created"
    print(f"{verb} {len(report.created)} account(s), {len(report.already_present)} already present")
    return 0


def cmd_export_schema(args: argparse.Namespace, settings: Settings | None) -> int:
    from stridegraph.graph.schema import export_sdl

    sys.stdout.write(export_sdl())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stridegraph", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server under uvicorn")
    serve.add_argument("--host", default=None, help="default: STRIDEGRAPH_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: STRIDEGRAPH_PORT or 8000")
    serve.add_argument(
        "--workers", type=int, default=None, help="default: STRIDEGRAPH_WORKERS or 1"
    )
    serve.set_defaults(handler=cmd_serve)
    sub.add_parser("migrate", help="upgrade the database to the latest revision").set_defaults(
        handler=cmd_migrate
    )
    admin = sub.add_parser("create-admin", help="create an administrator account")
    admin.add_argument("--username", required=True)
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", default=None)
    admin.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    admin.set_defaults(handler=cmd_create_admin)
    sub.add_parser("gc-photos", help="delete photo files no user references").set_defaults(
        handler=cmd_gc_photos
    )
    sub.add_parser("purge", help="delete expired and spent rows now").set_defaults(
        handler=cmd_purge
    )
    imports = sub.add_parser(
        "import-users", help="bring accounts over from another tracker, with password hashes"
    )
    imports.add_argument("file", help="a JSON Lines file of accounts ('-': standard input)")
    imports.add_argument(
        "--dry-run", action="store_true", help="check every row, report, write nothing"
    )
    imports.set_defaults(handler=cmd_import_users)
    sub.add_parser("export-schema", help="print the GraphQL SDL").set_defaults(
        handler=cmd_export_schema, no_config=True
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = None if getattr(args, "no_config", False) else load_settings()
    except ConfigError as exc:
        return _fail(str(exc), 2)
    try:
        return int(args.handler(args, settings))
    except ConfigError as exc:  # found only once the command looked (tracing)
        return _fail(str(exc), 2)
    except StartupError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
