"""The schema root: merges each family's queries and mutations into one federated schema.

To add a family, write its ``queries.py`` / ``mutations.py`` under ``graph/<family>/`` and list
its classes in ``QUERIES`` / ``MUTATIONS`` below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from stridegraph.config import Settings
from stridegraph.graph.account.mutations import AccountMutations
from stridegraph.graph.auth.mutations import AuthMutations
from stridegraph.graph.auth.queries import AuthQueries
from stridegraph.graph.cost import OneCostlyFieldPerOperation
from stridegraph.graph.edge import NoForbiddenCharacters
from stridegraph.graph.federation import CheckedEntities
from stridegraph.graph.history.mutations import HistoryMutations
from stridegraph.graph.history.queries import HistoryQueries
from stridegraph.graph.identity.mutations import IdentityMutations
from stridegraph.graph.identity.queries import IdentityQueries
from stridegraph.graph.mfa.mutations import MfaMutations
from stridegraph.graph.passkeys.mutations import PasskeyMutations
from stridegraph.graph.passkeys.queries import PasskeyQueries
from stridegraph.graph.photos.mutations import PhotoMutations
from stridegraph.graph.pipeline import request_extension
from stridegraph.graph.request_codes import MAX_ALIASES_LIMIT, MAX_DEPTH_LIMIT, coded_rule
from stridegraph.graph.scalars import SCALAR_OVERRIDES
from stridegraph.graph.settings.mutations import SettingsMutations
from stridegraph.graph.settings.queries import SettingsQueries
from stridegraph.graph.units import own_unit_per_mutation
from stridegraph.graph.users.mutations import UserMutations
from stridegraph.graph.users.queries import UserQueries
from stridegraph.graph.users.types import User

QUERIES: tuple[type, ...] = (
    UserQueries,
    SettingsQueries,
    AuthQueries,
    IdentityQueries,
    PasskeyQueries,
    HistoryQueries,
)
MUTATIONS: tuple[type, ...] = (
    MfaMutations,
    AuthMutations,
    UserMutations,
    SettingsMutations,
    PhotoMutations,
    AccountMutations,
    IdentityMutations,
    PasskeyMutations,
    HistoryMutations,
)
TYPES: tuple[type, ...] = (User,)

Query = merge_types("Query", QUERIES)
Mutation = own_unit_per_mutation(merge_types("Mutation", MUTATIONS)) if MUTATIONS else None


class Schema(CheckedEntities, strawberry.federation.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Strawberry logs every error with its trace; MaskUnexpectedErrors already logs the
        unexpected ones (with the request id), and the rest are the client's business."""


def validation_rules(settings: Settings) -> list[Any]:
    """The limit rules, built ONCE per schema (Strawberry's limiter extensions create a new
    rule class per instance), validated once per distinct document text."""
    rules: list[Any] = [
        *(
            coded_rule(rule, MAX_DEPTH_LIMIT)
            for rule in QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules
        ),
        *(
            coded_rule(rule, MAX_ALIASES_LIMIT)
            for rule in MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules
        ),
        OneCostlyFieldPerOperation,
        NoForbiddenCharacters,
    ]
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with its one per-request extension (``graph.pipeline``: cached parsing and
    validation with the limit rules, credential and argument checks, error rewriting)."""
    extensions: list[Any] = [request_extension(settings, validation_rules(settings))]
    return Schema(
        query=Query,
        mutation=Mutation,
        types=TYPES,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True),
        scalar_overrides=SCALAR_OVERRIDES,  # type: ignore[arg-type]
        federation_version="2.11",
    )


def export_sdl() -> str:
    """The SDL ``schema.graphql`` holds (independent of runtime limits)."""
    placeholder = Settings(
        database_url="sqlite+aiosqlite://",
        secret_key="-" * 32,
        encryption_keys=("-" * 32,),
        data_dir=Path("."),
    )
    return build_schema(placeholder).as_str() + "\n"
