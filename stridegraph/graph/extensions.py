"""What the schema extension (``graph.pipeline``) does about credentials and unexpected
errors: refuse bad credentials before execution, and mask unexpected errors."""

from __future__ import annotations

import logging

from graphql import DocumentNode, FieldNode, GraphQLError, get_operation_ast
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from strawberry.types.execution import ExecutionResult

from stridegraph.graph.request_codes import DOCUMENT_CODES, document_error_code

log = logging.getLogger("stridegraph.graphql")

KNOWN_CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "BAD_USER_INPUT",
        "SERVICE_UNAVAILABLE",
        *DOCUMENT_CODES,
    }
)


def database_down(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) says the database could not be asked."""
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
CREDENTIAL_EXCHANGE = frozenset(
    {
        "login",
        "refreshSession",
        "completeMfaLogin",
        "finishExternalLogin",
        "startPasskeyLogin",
        "finishPasskeyLogin",
        "__typename",
    }
)


def only_credential_exchange(document: DocumentNode, operation_name: str | None) -> bool:
    """The operation is made only of credential exchanges (``CREDENTIAL_EXCHANGE``): a bad
    bearer token does not fail it, as it never acts as the header's viewer."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return False
    selections = operation.selection_set.selections
    return all(
        isinstance(node, FieldNode) and node.name.value in CREDENTIAL_EXCHANGE
        for node in selections
    )


def auth_refusal(failure: str, reason: str | None = None) -> ExecutionResult:
    """The whole operation refused for the request's credential problem: a bad bearer
    token is UNAUTHENTICATED (never a silent downgrade to anonymous); a database that could
    not be asked is SERVICE_UNAVAILABLE."""
    message = (
        "The token is invalid, expired or revoked."
        if failure == "UNAUTHENTICATED"
        else "The service is temporarily unavailable."
    )
    extensions = {"code": failure}
    if reason is not None:  # TOKEN_EXPIRED (refresh) or TOKEN_INVALID (sign in again)
        extensions["reason"] = reason
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions=extensions)])


def mask_error(error: GraphQLError, request_id: str | None) -> GraphQLError:
    """Errors we raised on purpose (they carry a known ``extensions.code``) and GraphQL
    validation errors pass; anything else becomes ``Internal server error`` with the request
    id, and its trace goes to the log under the same id."""
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
    if database_down(original):
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
    """A document that does not parse or validate gets a code too (``graph.request_codes``),
    so every error a client sees is typed."""
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        extensions={
            **(error.extensions or {}),
            "code": document_error_code(error),
        },
    )
