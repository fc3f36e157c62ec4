"""The schema's one extension: cached parsing and validation, the checks that refuse an
operation before execution, and the rewriting of the errors a client sees.

It replaces nine (ParserCache, MaxTokensLimiter, AddValidationRules, ValidationCache, AuthGuard,
ArgumentLimits, HideSuggestions, the SDL guard and MaskUnexpectedErrors). Strawberry builds a
context manager per hook per extension per request; the validation cache hashed the whole
document tree on every look-up; the SDL guard and the argument check walked the document on
every request. Together that cost more CPU than executing a small query. This extension keeps
each behaviour, in the old order, with one instance per request; what depends only on the
document text (its AST, its validation errors, whether it asks for the SDL, which of its
arguments are bounded, whether it is only a credential exchange) is computed once per
distinct text and kept in a bounded LRU that belongs to the schema.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    get_operation_ast,
    parse,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types.execution import ExecutionResult

from stridegraph.config import Settings
from stridegraph.graph.exposure import (
    asks_for_sdl,
    gateway_secret_matches,
    sdl_refusal,
    without_suggestion,
)
from stridegraph.graph.extensions import auth_refusal, mask_error, only_credential_exchange
from stridegraph.graph.limits import BoundedArguments, bounded_arguments
from stridegraph.graph.request_codes import OPERATION_RESOLUTION_FAILURE

if TYPE_CHECKING:
    from stridegraph.graph.precompiled import Plan

#: Distinct document texts kept (parsed and validated) per schema.
CACHE_SIZE = 512


def operation_name_required() -> GraphQLError:
    return GraphQLError(
        "Must provide operation name if query contains multiple operations.",
        extensions={"code": OPERATION_RESOLUTION_FAILURE},
    )


class OperationFacts:
    """What the pre-execution checks need to know about one operation of a document."""

    __slots__ = ("bounds", "credential_only")

    def __init__(self, document: DocumentNode, operation_name: str | None) -> None:
        operation = get_operation_ast(document, operation_name)
        self.credential_only = only_credential_exchange(document, operation_name)
        self.bounds: BoundedArguments | None = (
            None if operation is None else bounded_arguments(document, operation)
        )


class Prepared:
    """One document text: its AST, its validation errors (None until validated) and the
    facts about it, each computed at most once."""

    __slots__ = (
        "_asks_for_sdl",
        "_operations",
        "document",
        "errors",
        "plans",
        "several_operations",
    )

    def __init__(self, document: DocumentNode) -> None:
        self.document = document
        self.errors: list[GraphQLError] | None = None
        self.several_operations = (
            sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1
        )
        self._asks_for_sdl: bool | None = None
        self._operations: dict[str | None, OperationFacts] = {}
        #: compiled forms of its operations, by name (``graph.precompiled_view`` fills it)
        self.plans: dict[str | None, Plan | None] = {}

    @property
    def asks_for_sdl(self) -> bool:
        if self._asks_for_sdl is None:
            self._asks_for_sdl = asks_for_sdl(self.document)
        return self._asks_for_sdl

    def operation(self, name: str | None) -> OperationFacts:
        facts = self._operations.get(name)
        if facts is None:
            facts = OperationFacts(self.document, name)
            # Kept only for names the document defines: the client picks the name, and
            # must not be able to grow a cache entry with made-up ones.
            if get_operation_ast(self.document, name) is not None:
                self._operations[name] = facts
        return facts


class DocumentCache:
    """Document text -> :class:`Prepared`, least recently used first out. A text that does
    not parse is not kept (the parse error is raised each time, as before)."""

    def __init__(self, max_tokens: int, size: int = CACHE_SIZE) -> None:
        self.max_tokens = max_tokens
        self.size = size
        self._entries: OrderedDict[str, Prepared] = OrderedDict()

    def get(self, query: str) -> Prepared:
        entries = self._entries
        prepared = entries.get(query)
        if prepared is not None:
            entries.move_to_end(query)
            return prepared
        prepared = Prepared(parse(query, max_tokens=self.max_tokens))
        entries[query] = prepared
        if len(entries) > self.size:
            entries.popitem(last=False)
        return prepared

    def __len__(self) -> int:
        return len(self._entries)


def documents_of(schema: Any) -> DocumentCache:
    """The document cache of a schema built with :func:`request_extension`."""
    for extension in schema.extensions:
        documents = getattr(extension, "documents", None)
        if isinstance(documents, DocumentCache):
            return documents
    raise LookupError("the schema has no request pipeline")


def request_extension(
    settings: Settings, validation_rules: Sequence[type[ASTValidationRule]]
) -> type[SchemaExtension]:
    """The extension class for one schema (a fresh instance per request, one cache per
    schema: two schemas with different rules never share validation results)."""
    cache = DocumentCache(settings.max_tokens)
    rules = tuple(validation_rules)
    guard_schema = not settings.introspection  # no suggestions, no SDL but for the gateway
    gateway_secret = settings.gateway_secret

    class RequestPipeline(SchemaExtension):
        documents = cache
        _prepared: Prepared | None = None

        def on_operation(self) -> Iterator[None]:
            context = self.execution_context
            context.parse_options["max_tokens"] = cache.max_tokens
            context.validation_rules = context.validation_rules + rules
            yield
            result = context.result
            errors = getattr(result, "errors", None) if result is not None else None
            if not errors:
                return
            request_id = getattr(context.context, "request_id", None)
            if guard_schema:
                errors = [without_suggestion(error) for error in errors]
            result.errors = [mask_error(error, request_id) for error in errors]  # type: ignore[union-attr]

        def on_parse(self) -> Iterator[None]:
            context = self.execution_context
            try:
                prepared = cache.get(context.query or "")
            except GraphQLError:
                # Raised from here it would bypass on_operation (no code, ``data: null``);
                # left to Strawberry's own parse (same options), it is a pre-execution error.
                yield
                return
            self._prepared = prepared
            context.graphql_document = prepared.document
            yield

        def on_validate(self) -> Iterator[None]:
            prepared = self._prepared
            context = self.execution_context
            if prepared is not None:
                if prepared.errors is None:
                    prepared.errors = validate_document(
                        context.schema._schema, prepared.document, context.validation_rules
                    )
                context.pre_execution_errors = prepared.errors
                # Strawberry would run the first operation; the spec makes it a request error.
                # (``_provided_operation_name``: the name the request gave, not the guess.)
                if (
                    not prepared.errors
                    and prepared.several_operations
                    and context._provided_operation_name is None
                ):
                    context.pre_execution_errors = [operation_name_required()]
            yield

        def on_execute(self) -> Iterator[None]:
            context = self.execution_context
            prepared = self._prepared
            request_context = context.context
            request = getattr(request_context, "request", None)
            operation_name = context.operation_name
            if request is not None:  # for the request's log line and operation metrics
                state = request.scope.setdefault("state", {})
                state["operation_name"] = operation_name
                state["operation_type"] = context.operation_type.value
            facts = prepared.operation(operation_name) if prepared is not None else None
            failure = getattr(request_context, "auth_failure", None)
            if failure == "UNAUTHENTICATED" and facts is not None and facts.credential_only:
                failure = None
            if failure is not None:
                context.result = auth_refusal(
                    failure, getattr(request_context, "auth_reason", None)
                )
            if context.result is None and facts is not None and facts.bounds is not None:
                variables = context.variables if isinstance(context.variables, Mapping) else None
                error = facts.bounds.problem(variables)
                if error is not None:
                    context.result = ExecutionResult(data=None, errors=[error])
            if (
                guard_schema
                and prepared is not None
                and prepared.asks_for_sdl
                and not gateway_secret_matches(request, gateway_secret)
            ):
                context.result = sdl_refusal()
            yield

    return RequestPipeline
