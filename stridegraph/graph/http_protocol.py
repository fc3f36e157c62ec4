"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): which media type
answers a request, and with which status code.

- ``Accept`` negotiates ``application/graphql-response+json`` when the client lists it with
  a quality at least that of ``application/json`` (Apollo Client 4 and graphql-http send
  ``application/graphql-response+json,application/json;q=0.9``). A missing ``Accept``,
  ``*/*``, or anything else gets ``application/json``, the spec's legacy media type.
- With ``application/graphql-response+json``, a *request error* (nothing was executed: the
  document does not parse or validate, a variable does not coerce, no operation can be
  chosen, the credentials are refused before execution) has no ``data`` key and a 4xx
  status: 400, 401 for ``UNAUTHENTICATED`` (with ``WWW-Authenticate``), 403 for
  ``FORBIDDEN``. Anything that executed is 200, with ``data`` (null included).
- With ``application/json`` every well-formed request is 200 and the body is as it always
  was, as the spec asks for legacy clients.
- A malformed request (not JSON, wrong parameter types, unsupported content type, batching,
  a mutation over GET, an unknown method) is a :class:`~stridegraph.graph.edge.RequestError`:
  its own status (405 with ``Allow`` for the methods) and a GraphQL JSON body with
  ``extensions.code``, in either media type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from starlette.responses import Response
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import ExecutionResult
from strawberry.types.graphql import OperationType

from stridegraph.graph.edge import RequestError, encode_json
from stridegraph.graph.request_codes import (
    BAD_REQUEST,
    METHOD_NOT_ALLOWED,
    OPERATION_RESOLUTION_FAILURE,
    PERSISTED_QUERY_NOT_FOUND,
    PERSISTED_QUERY_NOT_SUPPORTED,
)

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
ALLOWED_METHODS = "GET, POST"

_CODES = {400: BAD_REQUEST, 404: "NOT_FOUND", 405: METHOD_NOT_ALLOWED}
#: The status of a request error by its first error's code (others: 400). The persisted-query
#: answers stay 200 as with Apollo Server: a client's fallback must see the body, whatever
#: its error handling does with 4xx.
_REQUEST_ERROR_STATUS = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    PERSISTED_QUERY_NOT_FOUND: 200,
    PERSISTED_QUERY_NOT_SUPPORTED: 200,
}
_STATUS_HEADERS = {401: {"www-authenticate": 'Bearer realm="graphql"'}}


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value.strip())))
            except ValueError:
                return 0.0
    return 1.0


def negotiate(accept: str | None) -> str:
    """The response media type for an ``Accept`` header (see the module docstring)."""
    if not accept:
        return JSON
    graphql_response = json = 0.0
    for item in accept.split(","):
        media, *params = item.split(";")
        media = media.strip().lower()
        quality = _quality(params)
        if media == GRAPHQL_RESPONSE_JSON:
            graphql_response = max(graphql_response, quality)
        elif media in (JSON, "application/*", "*/*"):
            json = max(json, quality)
    return GRAPHQL_RESPONSE_JSON if graphql_response > 0 and graphql_response >= json else JSON


def request_media_type(headers: Mapping[str, str]) -> str:
    return negotiate(headers.get("accept"))


def is_request_error(payload: Mapping[str, Any]) -> bool:
    """Nothing was executed: no data and no error from a field (a field error has a path;
    a non-null field's error can null the whole ``data``, and that is still a response)."""
    errors = payload.get("errors")
    return (
        payload.get("data") is None
        and bool(errors)
        and all(isinstance(e, Mapping) and "path" not in e for e in errors or ())
    )


def _first_code(payload: Mapping[str, Any]) -> str | None:
    errors = payload.get("errors") or [{}]
    return ((errors[0] or {}).get("extensions") or {}).get("code")


def graphql_response(
    payload: dict[str, Any], media_type: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An executed (or refused-before-execution) operation's response in ``media_type``."""
    status = 200
    extra: dict[str, str] = dict(headers or {})
    if media_type == GRAPHQL_RESPONSE_JSON and is_request_error(payload):
        payload.pop("data", None)
        status = _REQUEST_ERROR_STATUS.get(_first_code(payload) or "", 400)
        extra.update(_STATUS_HEADERS.get(status, {}))
    return Response(encode_json(payload), status_code=status, media_type=media_type, headers=extra)


def error_response(exc: HTTPException, headers: Mapping[str, str]) -> Response:
    """A refused request (``exc``) as a GraphQL JSON body in the negotiated media type,
    never plain text; ``headers`` are the request's."""
    code = getattr(exc, "code", None) or _CODES.get(exc.status_code, BAD_REQUEST)
    extra = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        extra.setdefault("allow", ALLOWED_METHODS)
    extra.update(_STATUS_HEADERS.get(exc.status_code, {}))
    body = {"errors": [{"message": exc.reason, "extensions": {"code": code}}]}
    return Response(
        encode_json(body),
        status_code=exc.status_code,
        media_type=request_media_type(headers),
        headers=extra,
    )


def operation_refusal(exc: HTTPException) -> ExecutionResult:
    """Strawberry's refusals while choosing the operation, as the spec wants them: no
    operation of that name is a GraphQL request error (``OPERATION_RESOLUTION_FAILURE``,
    like Apollo Server); a mutation over GET is 405 with ``Allow: POST``. Anything else is
    raised again as it is."""
    cause = exc.__cause__
    if isinstance(cause, CannotGetOperationTypeError):
        error = GraphQLError(exc.reason, extensions={"code": OPERATION_RESOLUTION_FAILURE})
        return ExecutionResult(data=None, errors=[error])
    if (
        isinstance(cause, InvalidOperationTypeError)
        and cause.operation_type is OperationType.MUTATION
    ):
        raise RequestError(
            405,
            "Mutations are only accepted over POST.",
            METHOD_NOT_ALLOWED,
            headers={"allow": "POST"},
        ) from None
    raise exc
