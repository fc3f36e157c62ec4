"""Login latency against the real server (one worker, SQLite, argon2 at its production cost),
alone and while clients flood it with ``signUp`` requests. Hashing new passwords may hold
only N-1 of the N argon2 slots and a freed slot goes to a login first
(``domain/passwords.HashSlots``), so a login waits for at most the hash already running,
never for the queue of sign-ups behind it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import update

from stridegraph.app import build_services
from stridegraph.db import migrate
from stridegraph.db.engine import make_engine
from stridegraph.db.models import ServerSettings
from tests.conftest import make_settings, server_env, start_server, stop_server
from tests.helpers import PASSWORD, make_user

PROD_HASH = {"argon2_time_cost": 3, "argon2_memory_cost": 65536, "argon2_parallelism": 4}
LOGIN = (
    "mutation($u: String!, $p: String!) { login(username: $u, password: $p) {"
    " accessToken errors { code } } }"
)
SIGN_UP = (
    "mutation($u: String!, $e: String!) { signUp(input: {username: $u, email: $e,"
    ' name: "Flood", password: "flood password 123"}) { status errors { code } } }'
)


async def login_latencies(url: str, tries: int) -> list[float]:
    """Sequential logins of one account: what a person signing in waits."""
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=300) as client:
        for _ in range(tries):
            started = time.perf_counter()
            body = (
                await client.post(
                    f"{url}/graphql",
                    json={"query": LOGIN, "variables": {"u": "reader", "p": PASSWORD}},
                )
            ).json()
            latencies.append(time.perf_counter() - started)
            assert body["data"]["login"]["errors"] == [], body
    return latencies


async def flood(
    url: str, stop: asyncio.Event, names: itertools.count[int], done: list[int]
) -> None:
    async with httpx.AsyncClient(timeout=300) as client:
        while not stop.is_set():
            n = next(names)
            body = (
                await client.post(
                    f"{url}/graphql",
                    json={"query": SIGN_UP, "variables": {"u": f"flood{n}", "e": f"f{n}@x.org"}},
                )
            ).json()
            assert (body.get("data") or {}).get("signUp", {}).get("errors") == [], body
            done.append(1)


def summary(latencies: list[float]) -> str:
    median = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    return f"median {median * 1000:6.0f} ms  p99 {p99 * 1000:6.0f} ms"


async def main(clients: int, tries: int, hash_concurrency: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(f"sqlite+aiosqlite:///{tmp}/bench.sqlite3", Path(tmp), **PROD_HASH)
        await migrate.upgrade_async(settings.database_url)
        engine = make_engine(settings.database_url)
        services = build_services(settings, engine)
        await make_user(services, "reader")
        services.passwords.close()
        async with engine.begin() as conn:
            await conn.execute(update(ServerSettings).values(signup_enabled=True))
        await engine.dispose()
        extra = {
            "STRIDEGRAPH_SIGNUP_MAX_PER_ADDRESS": "1000000",
            "STRIDEGRAPH_LOGIN_MAX_FAILURES_ADDRESS": "1000000",
        }
        if hash_concurrency is not None:
            extra["STRIDEGRAPH_HASH_CONCURRENCY"] = str(hash_concurrency)
        server = start_server(server_env(settings, **extra), Path(tmp))
        try:
            await login_latencies(server.url, 3)  # warm up
            alone = await login_latencies(server.url, tries)
            stop, names, done = asyncio.Event(), itertools.count(), []
            flooders = [
                asyncio.create_task(flood(server.url, stop, names, done)) for _ in range(clients)
            ]
            await asyncio.sleep(3)
            started, before = time.monotonic(), len(done)
            busy = await login_latencies(server.url, tries)
            rate = (len(done) - before) / (time.monotonic() - started)
            stop.set()
            await asyncio.gather(*flooders)
        except BaseException:
            print(server.log()[-4000:])  # the server's last words
            raise
        finally:
            stop_server(server)
    print(f"argon2 slots (HASH_CONCURRENCY): {hash_concurrency or 'default'}")
    print(f"login alone:                  {summary(alone)}")
    print(f"login during {clients:3d} sign-up clients: {summary(busy)}  ({rate:.1f} sign-ups/s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--tries", type=int, default=30)
    parser.add_argument("--hash-concurrency", type=int, default=None)
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.tries, args.hash_concurrency))
