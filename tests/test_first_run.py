"""First run (issue 14 point 7), following the README's words literally: its first command
(past the venv and install steps the test run has already made), the create-admin step that
``serve`` itself points to, then GraphiQL's login and ``me``; and PUBLIC_URL defaulting to the
address served."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from stridegraph.config import load_settings
from tests.conftest import FAST_HASH, free_port
from tests.photos_support import UPLOAD, png

README = Path(__file__).resolve().parent.parent / "README.md"
PASSWORD = "first-run-password-1"
SETUP_STEPS = ("python3 -m venv .venv", ".venv/bin/pip install ")


def first_run_blocks() -> tuple[list[str], list[str]]:
    """The shell and graphql code blocks of the README's opening section (before "Running
    it"). The two set-up commands are ``sh`` blocks (tests/test_packaging.py holds the README
    to exactly two); the create-admin step between them is a ``shell`` block."""
    opening = README.read_text().split("\n## ", 1)[0]
    blocks = re.findall(r"```(sh|shell|graphql)\n(.*?)```", opening, re.DOTALL)
    return (
        [body.strip() for kind, body in blocks if kind in ("sh", "shell")],
        [body.strip() for kind, body in blocks if kind == "graphql"],
    )


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIDEGRAPH_")}
    env.update({f"STRIDEGRAPH_{k.upper()}": str(v) for k, v in FAST_HASH.items()})
    env.update(extra)
    return env


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"serve did not start:\n{log.read_text()}")


def graphql(url: str, query: str, token: str | None = None) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{url}/graphql", json={"query": query}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]  # type: ignore[no-any-return]


def test_the_readme_first_run_reaches_a_signed_in_me(tmp_path: Path) -> None:
    (sh_blocks, graphql_blocks) = first_run_blocks()
    serve_line, admin_line = sh_blocks[0], sh_blocks[1]
    steps = serve_line.split(" && ")
    assert steps[0].startswith(SETUP_STEPS[0]) and steps[1].startswith(SETUP_STEPS[1])
    assert steps[-1] == ".venv/bin/stridegraph serve"
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the venv the README's steps made
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(tmp_path, STRIDEGRAPH_PORT=str(port))
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        ["bash", "-c", " && ".join(steps[2:])],  # the README's words, as typed
        cwd=tmp_path,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy(url, server, log)
        hints = [
            json.loads(line)["msg"]
            for line in log.read_text().splitlines()
            if line.startswith("{") and json.loads(line).get("logger") == "stridegraph.setup"
        ]
        assert len(hints) == 1, log.read_text()
        assert f"`{admin_line}`" in hints[0], (hints, admin_line)
        assert f"{url}/graphql" in hints[0]
        created = subprocess.run(
            ["bash", "-c", admin_line],
            cwd=tmp_path,
            env=env,
            input=f"{PASSWORD}\n{PASSWORD}\n",
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,  # no terminal: getpass reads the piped password
            check=False,
        )
        assert created.returncode == 0, created.stderr
        login, me = graphql_blocks
        assert "YOUR_PASSWORD" in login
        data = graphql(url, login.replace("YOUR_PASSWORD", PASSWORD))
        token = data["login"]["accessToken"]  # type: ignore[index]
        assert token
        assert graphql(url, me, token) == {"me": {"username": "admin", "accessType": "ADMIN"}}
        # PUBLIC_URL defaulted to the served port: the photo link works as given
        upload = httpx.post(
            f"{url}/graphql",
            headers={"Authorization": f"Bearer {token}", "Apollo-Require-Preflight": "1"},
            data={
                "operations": json.dumps({"query": UPLOAD, "variables": {"file": None}}),
                "map": json.dumps({"0": ["variables.file"]}),
            },
            files={"0": ("me.png", png(), "image/png")},
            timeout=30,
        )
        photo_url = upload.json()["data"]["uploadMyPhoto"]["user"]["photoUrl"]
        assert photo_url.startswith(f"{url}/photos/"), photo_url
        photo = httpx.get(photo_url, headers={"Authorization": f"Bearer {token}"})
        assert photo.status_code == 200 and photo.content
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the shell and the serve it started
        server.wait(timeout=30)
    assert not [line for line in log.read_text().splitlines() if "no administrator" in line][1:]


def test_public_url_defaults_to_the_served_address(tmp_path: Path) -> None:
    assert load_settings({"STRIDEGRAPH_DATA_DIR": str(tmp_path)}).public_url == (
        "http://127.0.0.1:8000"
    )
    env = {"STRIDEGRAPH_DATA_DIR": str(tmp_path), "STRIDEGRAPH_PORT": "9123"}
    assert load_settings(env).public_url == "http://127.0.0.1:9123"
    wildcard = {**env, "STRIDEGRAPH_HOST": "0.0.0.0"}
    assert load_settings(wildcard).public_url == "http://127.0.0.1:9123"
    assert load_settings({**env, "STRIDEGRAPH_HOST": "::"}).public_url == "http://[::1]:9123"
    given = {**env, "STRIDEGRAPH_PUBLIC_URL": "https://fit.example/"}
    assert load_settings(given).public_url == "https://fit.example"


def test_no_hint_once_an_admin_exists(tmp_path: Path) -> None:
    """With an administrator, ``serve`` says nothing about creating one (and ``--port``
    sets PUBLIC_URL just as STRIDEGRAPH_PORT does)."""
    env = clean_env(tmp_path, STRIDEGRAPH_DATA_DIR=str(tmp_path / "data"))
    cli = [sys.executable, "-m", "stridegraph.cli"]
    subprocess.run(
        [
            *cli,
            "create-admin",
            "--username",
            "boss",
            "--email",
            "b@example.com",
            "--password-stdin",
        ],
        env=env,
        input=f"{PASSWORD}\n",
        text=True,
        capture_output=True,
        check=True,
        timeout=60,
    )
    port = free_port()
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server, log)
        data = graphql(
            url,
            f'mutation {{ login(username: "boss", password: "{PASSWORD}") {{ user {{ photoUrl }} }} }}',
        )
        assert data["login"]["user"]["photoUrl"] is None  # type: ignore[index]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "no administrator" not in log.read_text()
