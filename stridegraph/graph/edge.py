"""What a GraphQL request must look like before anything acts on it.

- The body (JSON, each JSON part of a multipart request, and GET's ``variables`` /
  ``extensions``) is one JSON object, nested at most :data:`MAX_JSON_DEPTH` levels;
  ``query`` and ``operationName`` are strings or null. Anything else is HTTP 400 with a
  GraphQL error body whose code is ``BAD_REQUEST``.
- No string anywhere in it (keys included) holds NUL or a lone surrogate
  (``domain.text``): HTTP 400, code ``BAD_USER_INPUT``. Such a string would otherwise reach
  the database (PostgreSQL refuses NUL mid-statement, SQLite stores it) or an error message
  we cannot encode.
- The same characters written as escapes inside the document's string literals
  (``"\\u0000"``) are refused by the validation rule :class:`NoForbiddenCharacters`
  (top-level ``BAD_USER_INPUT``). graphql-core's lexer already refuses lone surrogates in
  the document, escaped or not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError, StringValueNode, ValidationRule

from stridegraph.domain.text import FORBIDDEN_DESCRIPTION, has_forbidden_character

MAX_JSON_DEPTH = 64


class RequestError(HTTPException):
    """A request the GraphQL view refuses before execution: its HTTP status, its error code
    (``graph.request_codes``) and any headers the answer needs (``Allow``, ``Cache-Control``).
    ``graph.http_protocol.error_response`` turns it into a GraphQL JSON body."""

    def __init__(
        self,
        status: int,
        reason: str,
        code: str = "BAD_REQUEST",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, reason)
        self.code = code
        self.headers = headers or {}


class BadRequest(RequestError):
    """A malformed request: HTTP 400."""

    def __init__(self, reason: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(400, reason, code)


def encode_json(data: object) -> bytes:
    """A response body. orjson, falling back to the standard encoder for what orjson does
    not take (an integer wider than 64 bits)."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()


def decode_json_object(data: str | bytes) -> dict[str, Any]:
    """``json.loads`` for a request part that must be one JSON object. (Not orjson: it reads
    an integer wider than 64 bits as a float and refuses escaped lone surrogates, both of
    which the edge and GraphQL coercion must see as sent; a request body is small.)"""
    try:
        value = json.loads(data)
    except RecursionError:
        raise BadRequest(f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep.") from None
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8
        raise BadRequest("Unable to parse request body as JSON.") from None
    if not isinstance(value, dict):
        raise BadRequest(
            "The request body (and each JSON part of it) must be a JSON object; batching is not "
            "enabled."
        )
    return value


def _strings(value: object, where: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON value (keys too) with where it is; BadRequest past the depth
    limit. Iterative: the depth check must not itself overflow the stack."""
    pending: list[tuple[object, str, int]] = [(value, where, 0)]
    while pending:
        item, path, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep.")
        if isinstance(item, str):
            yield item, path
        elif isinstance(item, dict):
            for key, child in item.items():
                yield str(key), path
                pending.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list):
            pending.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def check_request(
    query: object, operation_name: object, variables: object, extensions: object
) -> None:
    """Refuse a parsed request whose parts have the wrong type, are nested too deeply or
    hold a forbidden character (see the module docstring)."""
    if not isinstance(operation_name, (str, type(None))):
        raise BadRequest("The GraphQL operation's `operationName` must be a string or null.")
    parts = {
        "query": query,
        "operationName": operation_name,
        "variables": variables,
        "extensions": extensions,
    }
    for name, part in parts.items():
        for text, path in _strings(part, name):
            if has_forbidden_character(text):
                raise BadRequest(
                    f"{path[:200]} contains {FORBIDDEN_DESCRIPTION}, which no text may contain.",
                    code="BAD_USER_INPUT",
                )


class NoForbiddenCharacters(ValidationRule):
    """String literals of the document (escapes decoded) hold no NUL or lone surrogate."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if has_forbidden_character(node.value):
            self.report_error(
                GraphQLError(
                    f"A string contains {FORBIDDEN_DESCRIPTION}, which no text may contain.",
                    node,
                    extensions={"code": "BAD_USER_INPUT"},
                )
            )
