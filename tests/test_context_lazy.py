"""The request context builds its DataLoaders on first use only, and afresh for a new unit."""

from __future__ import annotations

from typing import Any

from stridegraph.domain.unit import Unit
from stridegraph.graph.context import Context


async def test_loaders_are_built_on_first_use_and_per_unit(services: Any) -> None:
    unit = Unit(services=services, session=services.sessions())
    context = Context(
        request=None,  # type: ignore[arg-type]
        response=None,
        unit=unit,
        request_id="r",
        client_address="127.0.0.1",
    )
    try:
        assert context._loaders is None  # a `me` never pays for four DataLoaders
        loaders = context.loaders
        assert context.loaders is loaders and loaders.unit is unit
        await context.begin_mutation()  # the first mutation keeps the request's unit
        assert context.loaders is loaders
        await context.begin_mutation()  # the second gets a unit, and loaders, of its own
        assert context._loaders is None
        assert context.loaders is not loaders and context.loaders.unit is context.unit
    finally:
        await context.close()
