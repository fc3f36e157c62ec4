"""Every root mutation of an operation runs in its own unit of work.

A GraphQL operation may hold several mutations; they run one after the other. Each gets a
fresh unit (its own database session, DataLoaders and a viewer re-read from the bearer
token), so each is committed or rolled back on its own and nothing one of them loaded,
expired or changed leaks into the next:

- a rollback expires every object its session holds, the viewer's ``User`` included; the
  next mutation would lazy-load it outside SQLAlchemy's greenlet (MissingGreenlet);
- a mutation may end the viewer's own credential (``logout``, ``deleteMe``,
  ``changePassword`` with an API token...): the next one must see that and answer
  UNAUTHENTICATED, not act for a viewer that no longer exists;
- DataLoader caches would serve the previous mutation's reads.

The first mutation keeps the request's unit (its viewer was read a moment ago), so a
single-mutation operation costs nothing extra; each further one costs one statement (the
viewer). Mutations run serially and each payload is complete before the next mutation
starts, so the previous unit is closed when the next begins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.types import Info


class OwnUnit(FieldExtension):
    """Field extension on every root mutation; runs before its permission checks."""

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        await info.context.begin_mutation()
        return await next_(source, info, **kwargs)


def own_unit_per_mutation(mutation_type: type) -> type:
    """Give each field of the root mutation type the :class:`OwnUnit` extension, as the
    outermost one (strawberry wraps field extensions last-outermost)."""
    for field in mutation_type.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        if not any(isinstance(extension, OwnUnit) for extension in field.extensions):
            field.extensions.append(OwnUnit())
    return mutation_type
