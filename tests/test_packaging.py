"""The files a newcomer or an operator relies on say what they must."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_readme_has_exactly_two_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## ", 1)[0]
    blocks = re.findall(r"```sh\n(.+?)\n```", setup, flags=re.S)
    assert len(blocks) == 2, blocks
    serve, test = blocks
    assert "stridegraph serve" in serve and "stridegraph migrate" in serve
    assert "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text()
    assert test.strip() in ci


def test_compose_has_postgres_migrate_app_and_mail_with_healthchecks() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert (
        services["stridegraph"]["depends_on"]["migrate"]["condition"]
        == "service_completed_successfully"
    )
    for name in ("postgres", "stridegraph", "mailpit"):
        assert "healthcheck" in services[name], name
    env = services["stridegraph"]["environment"]
    assert env["STRIDEGRAPH_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env["STRIDEGRAPH_SMTP_URL"].startswith("smtp://mailpit")


def test_dependencies_are_pinned_in_constraints() -> None:
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    for package in (
        "strawberry-graphql",
        "sqlalchemy",
        "asyncpg",
        "aiosqlite",
        "alembic",
        "argon2-cffi",
        "pyotp",
        "pytest",
        "pytest-asyncio",
        "aiosmtpd",
        "aiosmtplib",
        "pillow",
        "cryptography",
    ):
        assert package in pinned, package
