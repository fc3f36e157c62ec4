"""The GraphQL view's fast path: a plain JSON ``POST`` of a known query answered from its
plan (``graph.precompiled``), before Strawberry's view and executor are involved.

It takes a request only when the full path would execute it without a word to say: the
body is one JSON object with the usual members, the edge checks pass (``graph.edge``), an
automatic persisted query resolves (``graph.persisted``), the document is in the pipeline's
cache already validated without errors (``graph.pipeline``: so the first request of a
document always takes the full path), the viewer authenticated or sent no credential, the
bounded arguments are within bounds, and the document is not the gateway's SDL query. The
request then gets what the full path would give, in the negotiated media type, with the
same log and metrics labels. In every other case, and whenever running the plan falls
back, it returns None and the full path answers (reading the same cached body).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError, GraphQLSchema, get_operation_ast
from starlette.requests import Request
from starlette.responses import Response

from stridegraph.graph.edge import check_request, decode_json_object
from stridegraph.graph.http_protocol import JSON, graphql_response
from stridegraph.graph.persisted import PersistedQueries, asks_for_persisted
from stridegraph.graph.pipeline import DocumentCache, Prepared
from stridegraph.graph.precompiled import Fallback, Plan, compile_plan

#: The members a GraphQL-over-HTTP request body may have.
MEMBERS = frozenset({"query", "operationName", "variables", "extensions"})


class PrecompiledQueries:
    """Plans for the documents of one schema, and the answering of requests from them."""

    def __init__(
        self, schema: GraphQLSchema, documents: DocumentCache, persisted: PersistedQueries
    ) -> None:
        self.schema = schema
        self.documents = documents
        self.persisted = persisted

    async def answer(
        self, request: Request, context: Any, sub_response: Response
    ) -> Response | None:
        """The response, or None when the full path must answer (see the module docstring)."""
        if request.method != "POST" or not _is_json(request.headers.get("content-type")):
            return None
        if context.auth_failure is not None:
            return None
        try:
            data = decode_json_object(await request.body())
        except HTTPException:
            return None
        found = self._plan(data)
        if found is None:
            return None
        plan, prepared, variables, persisted = found
        facts = prepared.operation(plan.name)
        if facts.bounds is not None and facts.bounds.problem(variables) is not None:
            return None
        state = request.scope.setdefault("state", {})
        try:
            answer = await plan.execute(context, variables)
        except Fallback:
            return None
        if persisted is not None:  # the request log says which kind it was
            state["persisted_query"] = persisted
        state["operation_name"] = plan.name
        state["operation_type"] = "query"
        state["precompiled"] = True  # the request log says which path answered
        response = graphql_response({"data": answer}, sub_response.media_type or JSON)
        response.headers.raw.extend(sub_response.headers.raw)
        response.background = sub_response.background
        return response

    def _plan(
        self, data: Mapping[str, Any]
    ) -> tuple[Plan, Prepared, Mapping[str, Any] | None, str | None] | None:
        """The plan and what running it needs, for a body the full path would execute."""
        if not data.keys() <= MEMBERS:
            return None
        query, name = data.get("query"), data.get("operationName")
        variables, extensions = data.get("variables"), data.get("extensions")
        if variables is not None and not isinstance(variables, dict):
            return None
        try:
            check_request(query, name, variables, extensions)
        except HTTPException:
            return None
        persisted = None
        if extensions is not None and not isinstance(extensions, dict):
            return None
        if extensions:
            if not asks_for_persisted(extensions) or len(extensions) != 1:
                return None
            try:
                query, persisted = self.persisted.resolve(query, extensions)
            except HTTPException:
                return None
        if not isinstance(query, str) or not isinstance(name, (str, type(None))):
            return None
        try:
            prepared = self.documents.get(query)
        except GraphQLError:
            return None
        if prepared.errors is None or prepared.errors or prepared.asks_for_sdl:
            return None
        plan = self._compiled(prepared, name)
        return None if plan is None else (plan, prepared, variables, persisted)

    def _compiled(self, prepared: Prepared, name: str | None) -> Plan | None:
        """Compiled once per operation the document defines (a made-up operation name
        must not grow the cache)."""
        if name in prepared.plans:
            return prepared.plans[name]
        plan = compile_plan(self.schema, prepared.document, name)
        if get_operation_ast(prepared.document, name) is not None:
            prepared.plans[name] = plan
        return plan


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json"
