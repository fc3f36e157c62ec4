"""How much of the schema a client may learn when introspection is off.

Turning introspection off is not enough on its own: graphql-core's errors suggest names
("Cannot query field 'emial' on type 'User'. Did you mean 'email'?"), so a client can
spell its way through the schema, and the federation field ``_service { sdl }`` hands out
the whole SDL. With introspection off, the schema extension (``graph.pipeline``) strips the
suggestions from every error message (:func:`without_suggestion`), and refuses ``_service``
(:func:`sdl_refusal`) unless the request carries the configured gateway secret (header ``X-Gateway-Secret``, compared in constant
time). ``_entities`` is not affected: it resolves users with the permissions of ``user(id:)``.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from graphql import FieldNode, GraphQLError, visit
from graphql.language import Visitor
from strawberry.types.execution import ExecutionResult

GATEWAY_HEADER = "x-gateway-secret"
SDL_FIELD = "_service"
# graphql-core appends " Did you mean 'a', 'b' or 'c'?" (also "... the enum value 'X'?").
_SUGGESTION = re.compile(r"\s*Did you mean\b.*\?\s*$", re.DOTALL)


def strip_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


def without_suggestion(error: GraphQLError) -> GraphQLError:
    message = strip_suggestions(error.message)
    if message == error.message:
        return error
    return GraphQLError(
        message,
        nodes=error.nodes,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )


class _FindsSdlField(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.name.value == SDL_FIELD:
            self.found = True


def asks_for_sdl(document: Any) -> bool:
    """Whether the document selects ``_service`` anywhere (aliased, in fragments: only
    ``Query`` has a field of that name, so any occurrence is it)."""
    if document is None:
        return False
    finder = _FindsSdlField()
    visit(document, finder)
    return finder.found


def gateway_secret_matches(request: Any, secret: str | None) -> bool:
    if not secret or request is None:
        return False
    given = request.headers.get(GATEWAY_HEADER, "")
    return hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode())


def sdl_refusal() -> ExecutionResult:
    """``_service`` refused before execution (no gateway secret, or a wrong one)."""
    return ExecutionResult(
        data=None,
        errors=[
            GraphQLError(
                "The schema is only available to the federation gateway.",
                extensions={"code": "FORBIDDEN"},
            )
        ],
    )
