"""Smoke test of the benchmark (``python -m bench --quick``): it must keep running end to end,
so the figures issue 12 asks for can be reproduced by anyone with one command.

It checks what the bench itself must get right, not stridegraph's speed: every work item
ran on stridegraph and on the ceiling, nothing came back non-2xx or refused, RESULTS.md was
written, and the ceiling's ``me`` is the one statement it claims (its own counter, divided by
the requests it served), so a regression in the yardstick shows up here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import WORK
from tests.conftest import IN_CI
from tests.pg import PostgresServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
APPS = ("stridegraph 1w", "ceiling")


def table_rows(output: str) -> dict[tuple[str, str], dict[str, str]]:
    """The bench's markdown table, keyed by (work item, app)."""
    lines = [line for line in output.splitlines() if line.startswith("| ")]
    assert lines, output
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        rows[cells["work"], cells["app"]] = cells
    return rows


def test_quick_bench_runs_every_work_item(
    postgres_server: PostgresServer | None, tmp_path: Path
) -> None:
    if shutil.which("wrk") is None:
        if IN_CI:
            pytest.fail("wrk is required under CI=true (Debian package wrk; .ci/run installs it)")
        pytest.skip("wrk is not installed")
    if postgres_server is None:
        pytest.skip("no PostgreSQL")
    results = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--postgres",
            postgres_server.admin_url,
            "--output",
            str(results),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    rows = table_rows(done.stdout)
    missing = [(w, a) for w in WORK for a in APPS if (w, a) not in rows]
    assert not missing, done.stdout
    for key, row in rows.items():
        assert row["non-2xx"] == "0", (key, row)
        assert row["socket errors"] == "0", (key, row)
        assert row["bad answers"] == "0", (key, row)
        assert float(row["req/s"].replace(",", "")) > 0, (key, row)
    assert rows["me", "ceiling"]["SQL round trips/req"] == "1.00", rows["me", "ceiling"]
    text = results.read_text()
    assert "## Where the time goes" in text
    assert "| me | ceiling |" in text and "| login | stridegraph 1w |" in text
