"""Federation ``_entities``: representations are checked before any is resolved.

A representation comes from the gateway, but anyone can send one: it must be an object whose
``__typename`` names one of our entity types and whose other keys are exactly that type's
``@key`` fields (the parameters of its ``resolve_reference``), each a string. Anything else
fails the whole field with BAD_USER_INPUT naming the representation, and nothing is resolved
(so no look-up is started and then abandoned). The values themselves are the resolvers'
business (``User.resolve_reference`` refuses a malformed id like ``user(id:)`` does).

The list itself is bounded (``MAX_REPRESENTATIONS``): within the body limit a client could
otherwise send twenty thousand representations, each answered with its own error or sent as
one bind parameter of a single ``IN`` (PostgreSQL's protocol allows 32,767), several seconds
of work for one request. A gateway sends one representation per entity it needs at one step
of its query plan (a page of 100 workouts needs 100 users), so the default, 1000, leaves room
for ten such pages in one step.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from strawberry.federation.schema import FederationAny
from strawberry.types import Info

from stridegraph.graph.errors import bad_user_input

Resolver = Callable[..., Any]
Entities = Mapping[str, tuple[Resolver, frozenset[str]]]


def entity_resolvers(type_map: Mapping[str, Any]) -> dict[str, tuple[Resolver, frozenset[str]]]:
    """GraphQL type name -> (its ``resolve_reference``, its key fields), from the schema's
    converted types."""
    found: dict[str, tuple[Resolver, frozenset[str]]] = {}
    for name, concrete in type_map.items():
        origin = getattr(getattr(concrete, "definition", None), "origin", None)
        resolve = getattr(origin, "resolve_reference", None)
        if resolve is not None:
            found[name] = (resolve, frozenset(inspect.signature(resolve).parameters) - {"info"})
    return found


def _checked(
    representation: object, index: int, entities: Entities
) -> tuple[Resolver, dict[str, str]]:
    where = f"representations[{index}]"
    if not isinstance(representation, dict):
        raise bad_user_input(f"{where} must be an object.", "representations")
    type_name = representation.get("__typename")
    if not isinstance(type_name, str) or type_name not in entities:
        raise bad_user_input(
            f"{where}.__typename must name an entity type: {', '.join(sorted(entities))}.",
            "representations",
        )
    resolve, keys = entities[type_name]
    fields = {k: v for k, v in representation.items() if k != "__typename"}
    if set(fields) != keys or not all(isinstance(v, str) for v in fields.values()):
        raise bad_user_input(
            f"{where} must hold exactly the key fields of {type_name} "
            f"({', '.join(sorted(keys))}), as strings.",
            "representations",
        )
    return resolve, fields


def _check_count(representations: list[Any], limit: int) -> None:
    if len(representations) > limit:
        raise bad_user_input(
            f"At most {limit} representations per request, got {len(representations)}.",
            "representations",
            "OUT_OF_RANGE",
        )


class CheckedEntities:
    """Mixin for the federation schema: its ``_entities`` resolver (strawberry builds the
    field from this method's signature, so it keeps strawberry's annotations)."""

    schema_converter: Any

    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        _check_count(representations, info.context.services.settings.max_representations)
        entities = entity_resolvers(self.schema_converter.type_map)
        checked = [_checked(r, i, entities) for i, r in enumerate(representations)]
        return [resolve(info=info, **fields) for resolve, fields in checked]
