"""Strawberry's ``get_context`` owns the request's unit of work: the view keeps Strawberry's
``__call__``, makes the context (unit, viewer) in ``get_context`` and closes the unit once
the answer is ready, whatever the answer was."""

from __future__ import annotations

from strawberry.asgi import GraphQL

from stridegraph.app import StrideGraphQL
from stridegraph.graph.context import Context
from tests.helpers import login_token, make_user


def test_the_view_keeps_strawberrys_call() -> None:
    assert StrideGraphQL.__call__ is GraphQL.__call__
    assert "get_context" in StrideGraphQL.__dict__


async def test_every_request_gives_its_connection_back(gql, http, services, db, monkeypatch):
    user = await make_user(services, "alice")
    token = await login_token(services, user)
    made: list[Context] = []
    closed: list[Context] = []
    original_get, original_close = StrideGraphQL.get_context, Context.close

    async def spy_get(self, request, response):  # type: ignore[no-untyped-def]
        context = await original_get(self, request, response)
        if all(context is not seen for seen in made):  # asked twice, made once (precompiled)
            made.append(context)
        return context

    async def spy_close(self):  # type: ignore[no-untyped-def]
        closed.append(self)
        await original_close(self)

    monkeypatch.setattr(StrideGraphQL, "get_context", spy_get)
    monkeypatch.setattr(Context, "close", spy_close)
    answers = [
        await gql.execute("{ me { username } }", token=token),  # signed in
        await gql.execute("{ me { username } }", token="sga_" + "x" * 43),  # bad token
        await gql.execute("{ serverSettings { signupEnabled } }"),  # anonymous
        await gql.execute("mutation { logout { errors { code } } }", token=token),
        await gql.execute("{ nope }"),  # invalid document
    ]
    assert answers[0]["data"] == {"me": {"username": "alice"}}
    assert answers[1]["errors"][0]["extensions"]["reason"] == "TOKEN_INVALID"
    assert answers[3]["data"]["logout"]["errors"] == []
    refused = await http.post(  # refused before any context is made
        "/graphql", files={"operations": (None, "{}"), "map": (None, "{}")}
    )
    assert refused.status_code == 400
    assert len(made) == 5 and closed[: len(made)] == made
    assert made[0].viewer is not None and made[0].viewer.user_id == user.id
    assert made[2].viewer is None and made[2].auth_failure is None
    if hasattr(db.engine.pool, "checkedout"):
        assert db.engine.pool.checkedout() == 0
