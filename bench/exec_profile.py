"""The GraphQL execution path's own cost, measured on a real ``stridegraph serve``.

Creates a throwaway PostgreSQL database, seeds a few hundred users (one session each, an
admin among them) through the domain layer, starts ``stridegraph serve`` (one worker) on
it, drives it with ``wrk`` (50 connections) for ``me`` and ``users(first: 50)``, and prints
req/s and the server's CPU milliseconds per request (from /proc). With ``--py-spy`` it also
records the worker with py-spy during each load and prints the top frames.

    .venv/bin/python -m bench.exec_profile [--users 300] [--seconds 10] [--py-spy]

Needs PostgreSQL at ``--admin-dsn`` (default postgres@127.0.0.1:5432, trust) and ``wrk``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg

from stridegraph.app import build_services
from stridegraph.db import migrate
from stridegraph.db.engine import make_engine
from tests.conftest import FAST_HASH, make_settings
from tests.helpers import login_token, make_user

ME = (
    "query Me { me { id username name email city birthdate preferredLanguage gender units "
    "height maxHeartRate firstDayOfWeek currency accessType createdAt } }"
)
USERS = (
    "query Users { users(first: 50) { totalCount edges { cursor node { id username name city "
    "accessType createdAt email active emailVerified } } } }"
)
LUA = """
local tokens = {}
for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
local body = %(body)s
local i = 0
request = function()
  i = i + 1
  local t = tokens[(i %% #tokens) + 1]
  return wrk.format("POST", "/graphql", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. t}, body)
end
"""
SECRET = "exec-profile-secret-" + "x" * 32
ENCRYPTION = "exec-profile-encryption-" + "y" * 32


async def seed(url: str, data_dir: Path, n: int) -> tuple[list[str], str]:
    settings = make_settings(
        url,
        data_dir,
        secret_key=SECRET,
        encryption_keys=(ENCRYPTION,),
        public_url="http://testserver",
    )
    await migrate.upgrade_async(url)
    engine = make_engine(url)
    services = build_services(settings, engine)
    tokens: list[str] = []
    admin = await make_user(services, "benchadmin", admin=True)
    admin_token = await login_token(services, admin)
    for i in range(n):
        user = await make_user(services, f"user{i:05d}", name=f"User {i}")
        tokens.append(await login_token(services, user))
    services.passwords.close()
    await engine.dispose()
    # Fresh sessions for the whole run: the once-a-minute last_used_at write is the core
    # helper's business (and its pool stall would drown what this harness measures).
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute("UPDATE sessions SET last_used_at = now() + interval '1 day'")
    finally:
        await connection.close()
    return tokens, admin_token


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """VmRSS of the process, in MB (as the bench reports it)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def post(port: int, query: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def load(
    name: str, port: int, pid: int, query: str, tokens_file: Path, args: argparse.Namespace
) -> dict[str, Any]:
    script = tokens_file.parent / f"{name}.lua"
    script.write_text(
        LUA % {"tokens": tokens_file, "body": json.dumps(json.dumps({"query": query}))}
    )
    spy = None
    if args.py_spy:
        out = tokens_file.parent / f"{name}.spy.txt"
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(args.seconds),
                "--format",
                "raw",
                "--rate",
                "200",
                "--output",
                str(out),
                "--nonblocking",
                "--function",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    before, rss_before = cpu_seconds(pid), rss_mb(pid)
    run = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c",
            str(args.connections),
            "-d",
            f"{args.seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    used = cpu_seconds(pid) - before
    total = int(re.search(r"(\d+) requests in", run.stdout).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", run.stdout).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", run.stdout)
    p99 = re.search(r"99%\s+(\S+)", run.stdout)
    result = {
        "work": name,
        "req/s": rps,
        "cpu_ms/req": round(1000 * used / max(total, 1), 3),
        "rss_mb_before": rss_before,
        "rss_mb_after": rss_mb(pid),
        "p99": p99.group(1) if p99 else "?",
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }
    if spy is not None:
        spy.wait()
        result["top"] = top_frames(tokens_file.parent / f"{name}.spy.txt", args.top)
    return result


def top_frames(path: Path, n: int) -> list[tuple[str, float, float]]:
    """(frame, self %, total %) from py-spy's collapsed-stack output."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or "cmd_serve" not in stack:
            continue  # only the event loop's thread (idle pool threads are not our cost)
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            total[frame] = total.get(frame, 0) + count
    ranked = sorted(own.items(), key=lambda kv: -kv[1])[:n]
    ours = sorted(
        ((f, c) for f, c in total.items() if re.search(r"stridegraph/|strawberry/|graphql/", f)),
        key=lambda kv: -kv[1],
    )[:n]
    return (
        [(f, 100 * c / samples, 100 * total[f] / samples) for f, c in ranked]
        + [("--- inclusive, stridegraph/strawberry/graphql frames ---", 0.0, 0.0)]
        + [(f, 100 * own.get(f, 0) / samples, 100 * c / samples) for f, c in ours]
    )


async def in_process(
    env: dict[str, str], query: str, tokens: list[str], n: int, top: int, profile: bool
) -> None:
    """``n`` requests straight into the ASGI app (50 at a time, no sockets), under cProfile:
    a deterministic picture of where the CPU goes between the server and the database."""
    import cProfile
    import pstats

    from stridegraph.app import create_app
    from stridegraph.config import load_settings

    app = create_app(load_settings(env))
    body = json.dumps({"query": query}).encode()

    async def one(token: str) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"authorization", f"Bearer {token}".encode()),
            ],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        assert b'"errors"' not in b"".join(chunks), b"".join(chunks)[:300]

    async def batch(count: int) -> float:
        started = time.process_time()
        for start in range(0, count, 50):
            await asyncio.gather(
                *(one(tokens[(start + i) % len(tokens)]) for i in range(min(50, count - start)))
            )
        return time.process_time() - started

    for token in tokens:  # one at a time: each session's once-a-minute last_used write
        await one(token)
    await batch(200)  # warm: caches, prepared statements, pool
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    used = await batch(n)
    if profiler is not None:
        profiler.disable()
    print(json.dumps({"requests": n, "cpu_ms/req": round(1000 * used / n, 3), "profiled": profile}))
    if profiler is not None:
        stats = pstats.Stats(profiler)
        by_package: dict[str, float] = {}
        for (filename, _, _), row in stats.stats.items():  # type: ignore[attr-defined]
            match = re.search(r"site-packages/(\w+)", filename) or re.search(
                r"(stridegraph/\w+|python3\.\d+/\w+)", filename
            )
            key = match.group(1) if match else filename
            by_package[key] = by_package.get(key, 0.0) + row[2]
        for key, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:20]:
            print(f"  {1000 * seconds / n:7.3f} ms/req  {key}")
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(r"stridegraph|strawberry|graphql", top)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--port", type=int, default=18731)
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--py-spy", action="store_true")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--only", choices=["me", "users"], default=None)
    parser.add_argument(
        "--in-process", type=int, default=0, help="N requests into the ASGI app, no server"
    )
    parser.add_argument("--no-cprofile", action="store_true", help="with --in-process: CPU only")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is required (apt-get install -y wrk)")
    db = f"sg_exec_{secrets.token_hex(4)}"
    base = args.admin_dsn.rsplit("/", 1)[0]

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(args.admin_dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{db}"'))
    server = None
    try:
        url = f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{db}"
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            tokens, admin_token = asyncio.run(seed(url, tmp_path, args.users))
            (tmp_path / "tokens.txt").write_text("\n".join(tokens) + "\n")
            (tmp_path / "admin.txt").write_text(admin_token + "\n")
            env = {
                **os.environ,
                "STRIDEGRAPH_DATABASE_URL": url,
                "STRIDEGRAPH_SECRET_KEY": SECRET,
                "STRIDEGRAPH_ENCRYPTION_KEY": ENCRYPTION,
                "STRIDEGRAPH_DATA_DIR": str(tmp_path),
                "STRIDEGRAPH_PUBLIC_URL": "http://testserver",
                "STRIDEGRAPH_LOG_LEVEL": "WARNING",
                "STRIDEGRAPH_ARGON2_TIME_COST": str(FAST_HASH["argon2_time_cost"]),
                "STRIDEGRAPH_ARGON2_MEMORY_COST": str(FAST_HASH["argon2_memory_cost"]),
                "STRIDEGRAPH_ARGON2_PARALLELISM": str(FAST_HASH["argon2_parallelism"]),
            }
            if args.in_process:
                for name, query, pool in (("me", ME, tokens), ("users", USERS, [admin_token])):
                    if args.only and name != args.only:
                        continue
                    print(f"== {name}")
                    asyncio.run(
                        in_process(
                            env, query, pool, args.in_process, args.top, not args.no_cprofile
                        )
                    )
                return
            server = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "stridegraph"),
                    "serve",
                    "--port",
                    str(args.port),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(200):
                try:
                    post(args.port, "{ __typename }", tokens[0])
                    break
                except OSError:
                    time.sleep(0.1)
            for token in tokens:  # one at a time: each session's last_used write
                post(args.port, ME, token)
            me = post(args.port, ME, tokens[0])
            assert not me.get("errors"), me
            users = post(args.port, USERS, admin_token)
            assert not users.get("errors") and len(users["data"]["users"]["edges"]) == 50, users
            works = [("me", ME, tmp_path / "tokens.txt"), ("users", USERS, tmp_path / "admin.txt")]
            for name, query, file in works:
                if args.only and name != args.only:
                    continue
                result = load(name, args.port, server.pid, query, file, args)
                top = result.pop("top", None)
                print(json.dumps(result))
                for frame, own, total in top or ():
                    print(f"  {own:5.1f}% {total:5.1f}%  {frame[:150]}")
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
