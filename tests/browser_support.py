"""Running the node scripts of ``tests/node_browser`` (playwright-core driving Debian's
Chromium) against the real server. Under CI=true a missing node, Chromium or ``npm ci`` is a
failure, never a skip (.ci/run installs them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

NODE_DIR = Path(__file__).parent / "node_browser"
CHROMIUM = os.environ.get("STRIDEGRAPH_CHROMIUM", "/usr/bin/chromium")


def require_browser() -> str:
    """The node binary, once node, Chromium and the npm packages are all there."""
    node = shutil.which("node")
    problems = []
    if node is None:
        problems.append("node is not installed (Debian package nodejs)")
    if not os.access(CHROMIUM, os.X_OK):
        problems.append(f"{CHROMIUM} is missing (Debian package chromium; .ci/run installs it)")
    if not (NODE_DIR / "node_modules" / "playwright-core").is_dir():
        problems.append(f"playwright-core is not installed: npm ci --prefix {NODE_DIR}")
    if problems:
        if IN_CI:
            pytest.fail("; ".join(problems) + " (required under CI=true)")
        pytest.skip("; ".join(problems))
    assert node is not None
    return node


def run_script(script: str, *args: str, timeout: float = 120) -> dict[str, Any]:
    """Run ``node_browser/<script>`` and return the JSON object it prints last."""
    node = require_browser()
    done = subprocess.run(
        [node, str(NODE_DIR / script), *args],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def assert_clean(result: dict[str, Any]) -> None:
    """No request left the machine, no console error, no uncaught page error."""
    assert not result.get("failure"), result.get("failure")
    assert result["blocked"] == [], result["blocked"]
    assert result["consoleErrors"] == [], result["consoleErrors"]
    assert result["pageErrors"] == [], result["pageErrors"]
