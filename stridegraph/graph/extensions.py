"""Schema extensions: refuse bad credentials before execution, and mask unexpected errors.

Passed to the schema as classes or factories (one fresh instance per request).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import FieldNode, GraphQLError, GraphQLSyntaxError, get_operation_ast
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult

log = logging.getLogger("stridegraph.graphql")

KNOWN_CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "BAD_USER_INPUT",
        "SERVICE_UNAVAILABLE",
        "GRAPHQL_VALIDATION_FAILED",
        "GRAPHQL_PARSE_FAILED",
    }
)


def _database_down(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, (OperationalError, InterfaceError, ConnectionError, TimeoutError)):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, OSError) and exc.errno is not None:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


# Mutations that authenticate by their own arguments and never use the viewer. A client whose
# access token just expired sends it along (most GraphQL clients attach the header to every
# request); refusing its refreshSession for that would make expiry unrecoverable.
CREDENTIAL_EXCHANGE = frozenset({"login", "refreshSession", "completeMfaLogin", "__typename"})


def _only_credential_exchange(execution_context: Any) -> bool:
    document = execution_context.graphql_document
    if document is None:
        return False
    operation = get_operation_ast(document, execution_context.operation_name)
    if operation is None:
        return False
    selections = operation.selection_set.selections
    return all(
        isinstance(node, FieldNode) and node.name.value in CREDENTIAL_EXCHANGE
        for node in selections
    )


class AuthGuard(SchemaExtension):
    """A bad bearer token fails the whole operation with UNAUTHENTICATED (never a silent
    downgrade to anonymous); a database that could not be asked is SERVICE_UNAVAILABLE.
    Operations made only of credential exchanges (login, refreshSession, completeMfaLogin)
    ignore the header: they never act as the header's viewer."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        request = getattr(context, "request", None)
        if request is not None:  # for the request's log line
            request.scope.setdefault("state", {})["operation_name"] = (
                self.execution_context.operation_name
            )
        failure = getattr(context, "auth_failure", None)
        if failure == "UNAUTHENTICATED" and _only_credential_exchange(self.execution_context):
            failure = None
        if failure is not None:
            message = (
                "The token is invalid, expired or revoked."
                if failure == "UNAUTHENTICATED"
                else "The service is temporarily unavailable."
            )
            self.execution_context.result = ExecutionResult(
                data=None, errors=[GraphQLError(message, extensions={"code": failure})]
            )
        yield


class ErrorRewriter(SchemaExtension):
    """Base for extensions that map every error of the finished result through
    :meth:`rewrite` (masking, stripping suggestions): one place that knows where the
    errors live and that a result may have none."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None) if result is not None else None
        if not errors:
            return
        result.errors = [self.rewrite(error) for error in errors]  # type: ignore[union-attr]

    def rewrite(self, error: GraphQLError) -> GraphQLError:
        raise NotImplementedError


class MaskUnexpectedErrors(ErrorRewriter):
    """Errors we raised on purpose (they carry a known ``extensions.code``) and GraphQL
    validation errors pass; anything else becomes ``Internal server error`` with the request
    id, and its trace goes to the log under the same id."""

    def rewrite(self, error: GraphQLError) -> GraphQLError:
        request_id = getattr(self.execution_context.context, "request_id", None)
        return self._mask(error, request_id)

    def _mask(self, error: GraphQLError, request_id: str | None) -> GraphQLError:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            code = (error.extensions or {}).get("code")
            if original is None and code is None and error.path is None:
                return _refused_document(error)
            if original is None or code in KNOWN_CODES:
                return error
            if error.path is None:  # a variable's value failed coercion (e.g. unknown enum)
                return GraphQLError(
                    error.message, nodes=error.nodes, extensions={"code": "BAD_USER_INPUT"}
                )
        if _database_down(original):
            log.warning("database unavailable", extra={"request_id": request_id})
            return GraphQLError(
                "The service is temporarily unavailable.",
                nodes=error.nodes,
                path=error.path,
                extensions={"code": "SERVICE_UNAVAILABLE", "requestId": request_id},
            )
        log.error(
            "unexpected error in resolver",
            exc_info=(type(original), original, original.__traceback__) if original else None,
            extra={"request_id": request_id, "path": error.path},
        )
        return GraphQLError(
            "Internal server error",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )


def _refused_document(error: GraphQLError) -> GraphQLError:
    """A document that does not parse or validate gets a code too (Apollo's names), so
    every error a client sees is typed."""
    syntax = isinstance(error, GraphQLSyntaxError)
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        extensions={
            **(error.extensions or {}),
            "code": "GRAPHQL_PARSE_FAILED" if syntax else "GRAPHQL_VALIDATION_FAILED",
        },
    )
