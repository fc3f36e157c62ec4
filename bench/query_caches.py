"""A small ``me`` query executed through the schema, with and without the parser/validation
caches, on a migrated SQLite database (in process, no HTTP)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from stridegraph.app import build_services
from stridegraph.db import migrate
from stridegraph.db.engine import make_engine
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import resolve_bearer
from stridegraph.graph import schema as schema_module
from stridegraph.graph.context import Context
from tests.conftest import make_settings
from tests.helpers import login_token, make_user

QUERY = "query Me { me { id username name email accessType privacySettings { hideActivityMap } } }"


def without_caches(schema: strawberry.Schema) -> strawberry.Schema:
    extensions = [
        e for e in schema.extensions if getattr(e, "func", e) not in (ParserCache, ValidationCache)
    ]
    return schema_module.Schema(
        query=schema_module.Query,
        mutation=schema_module.Mutation,
        types=schema_module.TYPES,
        extensions=extensions,
        config=schema.config,
        federation_version="2.11",
    )


class FakeRequest:
    scope: dict[str, Any] = {}
    headers: dict[str, str] = {}


async def run(schema: strawberry.Schema, services: Any, token: str, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        async with services.sessions() as session:
            unit = Unit(services=services, session=session)
            viewer = await resolve_bearer(unit, token=token)
            ctx = Context(
                request=FakeRequest(),
                response=None,
                unit=unit,
                request_id="b",
                client_address="x",
                viewer=viewer,
            )  # type: ignore[arg-type]
            result = await schema.execute(QUERY, context_value=ctx)
            assert not result.errors, result.errors
    return n / (time.perf_counter() - started)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(f"sqlite+aiosqlite:///{tmp}/bench.sqlite3", Path(tmp))
        await migrate.upgrade_async(settings.database_url)
        engine = make_engine(settings.database_url)
        services = build_services(settings, engine)
        user = await make_user(services, "bench")
        token = await login_token(services, user)
        cached = schema_module.build_schema(settings)
        uncached = without_caches(cached)
        await run(cached, services, token, 50)
        await run(uncached, services, token, 50)
        with_caches = await run(cached, services, token, 500)
        no_caches = await run(uncached, services, token, 500)
        print(f"me via schema, with caches:    {with_caches:8.0f} ops/s")
        print(f"me via schema, without caches: {no_caches:8.0f} ops/s")
        print(f"ratio: {with_caches / no_caches:.2f}x")
        services.passwords.close()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
