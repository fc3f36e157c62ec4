"""User queries."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from stridegraph.domain import users as users_domain
from stridegraph.domain.scopes import PROFILE_READ
from stridegraph.graph.errors import run_query
from stridegraph.graph.permissions import requires
from stridegraph.graph.users.types import UserMe


@strawberry.type
class UserQueries:
    @strawberry.field(description="The signed-in user.", extensions=[requires(scope=PROFILE_READ)])
    async def me(self, info: Info) -> UserMe | None:
        row = await run_query(info, users_domain.get_me, viewer=info.context.viewer)
        return UserMe.from_row(row, info.context.services.settings.public_url)
