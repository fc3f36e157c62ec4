"""Operational configuration defaults (issue 11): refresh reuse grace, image limits,
production defaults. Each default is checked for the embedded SQLite default and for a
PostgreSQL URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from stridegraph.config import ConfigError, Settings, load_settings

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/stridegraph"
KEY = "k" * 40


def embedded(tmp_path: Path, **env: str) -> Settings:
    return load_settings(
        {"STRIDEGRAPH_DATA_DIR": str(tmp_path), **{f"STRIDEGRAPH_{k}": v for k, v in env.items()}}
    )


def postgres(tmp_path: Path, **env: str) -> Settings:
    return embedded(
        tmp_path,
        DATABASE_URL=PG,
        SECRET_KEY=KEY,
        ENCRYPTION_KEY=KEY,
        **env,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def load(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    return (
        (lambda **env: embedded(tmp_path, **env))
        if request.param == "sqlite"
        else (lambda **env: postgres(tmp_path, **env))
    )


def test_refresh_reuse_grace(load) -> None:  # type: ignore[no-untyped-def]
    assert load().refresh_reuse_grace_seconds == 2
    assert load(REFRESH_REUSE_GRACE="0").refresh_reuse_grace_seconds == 0
    assert load(REFRESH_REUSE_GRACE="60").refresh_reuse_grace_seconds == 60


@pytest.mark.parametrize(
    ("variable", "value"), [("REFRESH_REUSE_GRACE", "61"), ("REFRESH_REUSE_GRACE", "-1")]
)
def test_bad_values_name_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        embedded(tmp_path, **{variable: value})
    assert error.value.variable == f"STRIDEGRAPH_{variable}"


def test_image_limits(load) -> None:  # type: ignore[no-untyped-def]
    settings = load()
    assert settings.max_image_pixels == 4096 * 4096
    assert settings.image_concurrency == 2
    tuned = load(MAX_IMAGE_PIXELS="1000000", IMAGE_CONCURRENCY="1")
    assert (tuned.max_image_pixels, tuned.image_concurrency) == (1_000_000, 1)
    with pytest.raises(ConfigError) as error:
        load(IMAGE_CONCURRENCY="0")
    assert error.value.variable == "STRIDEGRAPH_IMAGE_CONCURRENCY"


def test_introspection_and_graphiql_only_by_default_for_the_embedded_default(
    tmp_path: Path,
) -> None:
    dev = embedded(tmp_path)
    assert dev.introspection and dev.graphiql
    explicit_sqlite = embedded(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    assert explicit_sqlite.introspection and explicit_sqlite.graphiql
    prod = postgres(tmp_path)
    assert not prod.introspection and not prod.graphiql
    opened = postgres(tmp_path, INTROSPECTION="true", GRAPHIQL="yes")
    assert opened.introspection and opened.graphiql
    closed = embedded(tmp_path, INTROSPECTION="false", GRAPHIQL="0")
    assert not closed.introspection and not closed.graphiql


def test_gateway_metrics_and_body_timeout(load) -> None:  # type: ignore[no-untyped-def]
    settings = load()
    assert settings.gateway_secret is None and settings.metrics_token is None
    assert settings.body_timeout_seconds == 30
    tuned = load(GATEWAY_SECRET="g" * 16, METRICS_TOKEN="m" * 20, BODY_TIMEOUT="5")
    assert (tuned.gateway_secret, tuned.metrics_token) == ("g" * 16, "m" * 20)
    assert tuned.body_timeout_seconds == 5


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GATEWAY_SECRET", "short"),
        ("METRICS_TOKEN", "x" * 15),
        ("BODY_TIMEOUT", "0"),
        ("BODY_TIMEOUT", "soon"),
    ],
)
def test_bad_exposure_values_name_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        postgres(tmp_path, **{variable: value})
    assert error.value.variable == f"STRIDEGRAPH_{variable}"
