"""``python -m bench.memory``: the resident memory of a ``stridegraph serve`` worker.

Measured the way the bench measures it (``rss_mb`` of the serving process, one worker, on
PostgreSQL): after start-up, and after a few hundred requests (``me``, ``users(first: 50)``
with ``totalCount``, and a few logins). Each of ``--runs`` runs starts a fresh server; the
median is printed. It needs no wrk and puts little load on the machine, so it can run while
other work goes on; the database is a throwaway one, dropped at the end.

It also lists which of the libraries a deployment may never use are mapped into the worker
(their compiled extensions in ``/proc/PID/maps``): a cheap outside check that start-up did not
pull them in.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.__main__ import (
    LOGIN_QUERY,
    ME_QUERY,
    PASSWORD,
    USERS_TOTAL_QUERY,
    hash_password,
    pg_dsn,
    rss_mb,
    seed,
    start_stridegraph,
    throwaway_database,
    wait_healthy,
)
from stridegraph.db import migrate

#: Compiled extensions whose presence in the worker's memory map means the library was
#: imported: Pillow, cbor2 (passkeys), the cryptography backend that authlib/joserfc/webauthn
#: use, and the SQLite driver (not needed on PostgreSQL).
WATCHED = {
    "PIL": "/PIL/",
    "cbor2": "/_cbor2",
    "cryptography": "/cryptography/hazmat/bindings/",
    "sqlite3": "_sqlite3",
}


def mapped(pid: int) -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return sorted(name for name, needle in WATCHED.items() if needle in maps)


def drive(url: str, token: str, username: str, requests: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(requests):
            query = ME_QUERY if i % 2 == 0 else USERS_TOTAL_QUERY
            answer = client.post("/graphql", json={"query": query}, headers=headers)
            answer.raise_for_status()
            assert "errors" not in answer.json(), answer.text
        for _ in range(3):
            body = {"query": LOGIN_QUERY, "variables": {"u": username, "p": PASSWORD}}
            client.post("/graphql", json=body).raise_for_status()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    opts = parser.parse_args(argv)
    startup: list[float] = []
    loaded: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="stridegraph-memory-") as tmp,
        throwaway_database() as db,
    ):
        work = Path(tmp)
        url = pg_dsn(db).replace("postgresql://", "postgresql+asyncpg://", 1)
        secret_key = secrets.token_urlsafe(32)
        env = {
            "STRIDEGRAPH_DATABASE_URL": url,
            "STRIDEGRAPH_SECRET_KEY": secret_key,
            "STRIDEGRAPH_ENCRYPTION_KEY": secrets.token_urlsafe(32),
            "STRIDEGRAPH_DATA_DIR": str(work / "data"),
        }
        migrate.upgrade(url)
        seeded = asyncio.run(seed(db, secret_key, hash_password(env), 100))
        for run in range(opts.runs):
            app = start_stridegraph(env, 1, work)
            try:
                wait_healthy(app)
                pid = app.worker_pids()[0]
                startup.append(rss_mb(pid) or 0.0)
                drive(app.url, seeded.user_tokens[0], seeded.usernames[1], opts.requests)
                loaded.append(rss_mb(pid) or 0.0)
                print(
                    f"run {run + 1}: {startup[-1]:.1f} MB after start-up, {loaded[-1]:.1f} MB"
                    f" after {opts.requests} requests; mapped: {', '.join(mapped(pid)) or '-'}",
                    flush=True,
                )
            finally:
                app.process.terminate()
                app.process.wait(30)
    print(
        f"median of {opts.runs}: {statistics.median(startup):.1f} MB after start-up,"
        f" {statistics.median(loaded):.1f} MB after {opts.requests} requests"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
