"""The stable ``extensions.code`` of every request error (an error raised before execution),
written once here; the README's "GraphQL over HTTP" section lists them.

Apollo Server's names where it has one (``GRAPHQL_PARSE_FAILED``, ``BAD_REQUEST``, ...),
Apollo Router's operation-limit names for the limits (``MAX_DEPTH_LIMIT``, ...), so that a
client or gateway written for Apollo reads ours without a mapping table.
"""

from __future__ import annotations

from typing import Any

from graphql import ASTValidationRule, GraphQLError, GraphQLSyntaxError, ValidationContext

BAD_REQUEST = "BAD_REQUEST"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
MAX_DEPTH_LIMIT = "MAX_DEPTH_LIMIT"
MAX_ALIASES_LIMIT = "MAX_ALIASES_LIMIT"
MAX_TOKENS_LIMIT = "MAX_TOKENS_LIMIT"
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"

#: The codes a refused document can carry (``graph.extensions`` lets them through as known).
DOCUMENT_CODES = frozenset(
    {
        GRAPHQL_PARSE_FAILED,
        GRAPHQL_VALIDATION_FAILED,
        OPERATION_RESOLUTION_FAILURE,
        MAX_DEPTH_LIMIT,
        MAX_ALIASES_LIMIT,
        MAX_TOKENS_LIMIT,
    }
)

# graphql-core's parser, past ``max_tokens``: "Document contains more than N tokens. Parsing
# aborted." It has no error class of its own, so its (stable) wording is what tells it apart.
_TOKEN_LIMIT_WORDING = "Document contains more than"


def document_error_code(error: GraphQLError) -> str:
    """The code of a document that does not parse (the token limit has its own) or does not
    validate."""
    if isinstance(error, GraphQLSyntaxError):
        return MAX_TOKENS_LIMIT if _TOKEN_LIMIT_WORDING in error.message else GRAPHQL_PARSE_FAILED
    return GRAPHQL_VALIDATION_FAILED


class _CodingContext:
    """A validation context whose reported errors get ``code`` (when they have none); all
    else is the real context's."""

    def __init__(self, context: ValidationContext, code: str) -> None:
        self._context = context
        self._code = code

    def report_error(self, error: GraphQLError) -> None:
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": self._code}
        self._context.report_error(error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def coded_rule(rule: type[ASTValidationRule], code: str) -> type[ASTValidationRule]:
    """``rule`` with ``code`` on the errors it reports: Strawberry's depth and alias limiters
    report plain errors, which would otherwise all be GRAPHQL_VALIDATION_FAILED."""

    class Coded(rule):  # type: ignore[valid-type,misc]
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(_CodingContext(context, code))

    Coded.__name__ = f"Coded{rule.__name__}"
    return Coded
