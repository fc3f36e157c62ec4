"""``me`` throughput and p99 against the real server (one worker, SQLite, argon2 at its
production cost), alone and while 50 clients log in continuously. With hashing bounded to
its own small pool, the event loop keeps serving everything else."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from stridegraph.app import build_services
from stridegraph.db import migrate
from stridegraph.db.engine import make_engine
from tests.conftest import make_settings, server_env, start_server, stop_server
from tests.helpers import PASSWORD, login_token, make_user

PROD_HASH = {"argon2_time_cost": 3, "argon2_memory_cost": 65536, "argon2_parallelism": 4}
ME = {"query": "{ me { id username } }"}
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken errors { code } } }"


async def me_load(
    url: str, token: str, seconds: float, concurrency: int = 8
) -> tuple[float, float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await client.post(f"{url}/graphql", json=ME, headers=headers)
            assert response.status_code == 200
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    p99 = statistics.quantiles(latencies, n=100)[98]
    return len(latencies) / seconds, p99


async def login_storm(url: str, username: str, stop: asyncio.Event, logins: list[int]) -> None:
    async with httpx.AsyncClient(timeout=120) as client:
        while not stop.is_set():
            body = (
                await client.post(
                    f"{url}/graphql",
                    json={"query": LOGIN, "variables": {"u": username, "p": PASSWORD}},
                )
            ).json()
            assert body.get("data") and body["data"]["login"]["errors"] == [], body
            logins.append(1)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(f"sqlite+aiosqlite:///{tmp}/bench.sqlite3", Path(tmp), **PROD_HASH)
        await migrate.upgrade_async(settings.database_url)
        engine = make_engine(settings.database_url)
        services = build_services(settings, engine)
        reader = await make_user(services, "reader")
        for i in range(50):  # one account each: in-flight attempts count toward a limit
            await make_user(services, f"stormy{i}")
        token = await login_token(services, reader)
        services.passwords.close()
        await engine.dispose()
        env = server_env(settings, STRIDEGRAPH_LOGIN_MAX_FAILURES_ADDRESS="1000")
        server = start_server(env, Path(tmp))
        try:
            await me_load(server.url, token, 2)
            alone, alone_p99 = await me_load(server.url, token, 10)
            stop, logins = asyncio.Event(), []
            storm = [
                asyncio.create_task(login_storm(server.url, f"stormy{i}", stop, logins))
                for i in range(50)
            ]
            await asyncio.sleep(2)
            before = len(logins)
            busy, busy_p99 = await me_load(server.url, token, 10)
            rate = (len(logins) - before) / 10
            stop.set()
            await asyncio.gather(*storm)
        finally:
            stop_server(server)
    print(f"me alone:               {alone:7.0f} req/s  p99 {alone_p99 * 1000:6.0f} ms")
    print(
        f"me during 50 logins:    {busy:7.0f} req/s  p99 {busy_p99 * 1000:6.0f} ms  ({rate:.1f} logins/s)"
    )
    print(f"throughput kept: {busy / alone:.0%}")


if __name__ == "__main__":
    asyncio.run(main())
