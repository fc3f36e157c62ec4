"""``mySessions`` and ``myApiTokens``."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from stridegraph.domain import api_tokens as api_tokens_domain
from stridegraph.domain import sessions as sessions_domain
from stridegraph.domain.scopes import PROFILE_READ
from stridegraph.graph.auth.types import ApiToken, Session
from stridegraph.graph.errors import run_query
from stridegraph.graph.permissions import requires


@strawberry.type
class AuthQueries:
    @strawberry.field(
        description="The signed-in user's open sessions, most recently used first.",
        extensions=[requires(scope=PROFILE_READ)],
    )
    async def my_sessions(self, info: Info) -> list[Session]:
        viewer = info.context.viewer
        rows = await run_query(info, sessions_domain.list_sessions)
        return [Session.from_row(row, viewer.session_id) for row in rows]

    @strawberry.field(
        description="The signed-in user's API tokens (never their secrets), newest first.",
        extensions=[requires(scope=PROFILE_READ)],
    )
    async def my_api_tokens(self, info: Info) -> list[ApiToken]:
        rows = await run_query(info, api_tokens_domain.list_api_tokens)
        return [ApiToken.from_row(row) for row in rows]
