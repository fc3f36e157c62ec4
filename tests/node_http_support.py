"""The node project in ``tests/node_http`` (graphql-http's audit, Apollo Client): found,
installed from its lockfile when ``node_modules`` is missing, run.

Under CI=true a missing node or npm fails the test (``.ci/run`` installs them); elsewhere it
skips, as for wrk in ``tests/test_bench.py``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

NODE_PROJECT = Path(__file__).resolve().parent / "node_http"


def node_project() -> Path:
    """The project directory, with its dependencies installed (``npm ci``)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            if IN_CI:
                pytest.fail(f"{tool} is required under CI=true (Debian package nodejs/npm)")
            pytest.skip(f"{tool} is not installed")
    if not (NODE_PROJECT / "node_modules").is_dir():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=NODE_PROJECT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return NODE_PROJECT


def run_node(script: str, *args: str, timeout: float = 120) -> Any:
    """Run ``script`` of the project with ``args``; its stdout is one JSON document."""
    done = subprocess.run(
        ["node", script, *args],
        cwd=node_project(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)
