"""A serving worker carries only what serving needs (issue 12 point 8: RSS per worker).

The real ``stridegraph serve`` (one worker: the CLI's own process serves) runs under a tiny
harness that, when the process exits after its graceful stop, writes the names in
``sys.modules`` to a file. After start-up and a ``me`` request, none of the libraries a
deployment may never use may be there: Alembic (the revision pre-flight runs in a child),
Pillow (photos), Authlib/joserfc/httpx (OpenID Connect), py_webauthn/cbor2 (passkeys),
segno (the MFA QR code), cryptography (MFA secrets), aiosmtplib (sending mail),
email_validator (checking an address), ua-parser with PyYAML (a security event's device),
bcrypt (imported accounts' hashes); and websockets, which uvicorn would load for
WebSocket upgrades although the schema has no subscriptions. Each is imported on first use; a module
that imports one of them at the top again makes this fail (that the code using them still
works is the business of their own tests: photos, passkeys, MFA, OIDC). The harness is test
code only: the server has no debug channel for it.

The resident size is checked too, through ``/metrics`` (prometheus' process collector), with
a wide margin: it is about 80 MB; before these changes it was about 112 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import LiveServer, free_port, server_env, stop_server
from tests.helpers import login_token, make_user

#: Top-level packages a worker must not have imported after start-up and a ``me``.
NOT_AT_STARTUP = (
    "alembic",
    "PIL",
    "authlib",
    "joserfc",
    "httpx",
    "webauthn",
    "cbor2",
    "segno",
    "cryptography",
    "aiosmtplib",
    "email_validator",
    "websockets",
    "ua_parser",
    "yaml",
    "bcrypt",
)
#: A wide margin over the ~80 MB measured (``python -m bench.memory``).
RSS_CEILING_MB = 100

HARNESS = """
import atexit, json, os, sys

def dump():
    with open(os.environ["TEST_MODULES_OUT"], "w") as out:
        json.dump(sorted(sys.modules), out)

atexit.register(dump)
from stridegraph.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _start(env: dict[str, str], tmp: Path) -> LiveServer:
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-c", HARNESS, "serve", "--port", str(port), "--workers", "1"],
        env={**os.environ, **env},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return LiveServer(url, process, log_path)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not start:\n{log_path.read_text()}")


def _resident_mb(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("process_resident_memory_bytes "):
            return float(line.split()[1]) / 2**20
    raise AssertionError("no process_resident_memory_bytes on /metrics")


async def test_a_worker_starts_without_the_libraries_it_may_never_use(
    settings: Any, services: Any, tmp_path: Path
) -> None:
    user = await make_user(services, "alice")
    token = await login_token(services, user)
    out = tmp_path / "modules.json"
    server = _start(server_env(settings, TEST_MODULES_OUT=str(out)), tmp_path)
    try:
        answer = httpx.post(
            f"{server.url}/graphql",
            json={"query": "{ me { username } }"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert answer.json() == {"data": {"me": {"username": "alice"}}}, answer.text
        resident = _resident_mb(httpx.get(f"{server.url}/metrics", timeout=30).text)
    finally:
        stop_server(server)
    assert server.process.returncode == 0, server.log()[-3000:]
    names = set(json.loads(out.read_text()))
    assert "stridegraph.app" in names  # the dump is the serving process's, app loaded
    loaded = {name.split(".")[0] for name in names}
    print("top-level modules:", sorted(n for n in loaded if n not in sys.stdlib_module_names))
    assert sorted(loaded & set(NOT_AT_STARTUP)) == []
    assert resident < RSS_CEILING_MB, f"{resident:.1f} MB"
