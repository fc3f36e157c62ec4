"""``myPasskeys`` and, for administrators, ``userPasskeys``."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from stridegraph.domain import passkeys as passkeys_domain
from stridegraph.domain.scopes import PROFILE_READ, USERS_READ
from stridegraph.graph.arguments import UserId
from stridegraph.graph.errors import run_query
from stridegraph.graph.passkeys.types import Passkey
from stridegraph.graph.permissions import requires
from stridegraph.graph.user_admin import of_user


@strawberry.type
class PasskeyQueries:
    @strawberry.field(
        description="The signed-in user's passkeys, oldest first (never key material).",
        extensions=[requires(scope=PROFILE_READ)],
    )
    async def my_passkeys(self, info: Info) -> list[Passkey]:
        rows = await run_query(info, passkeys_domain.list_passkeys)
        return [Passkey.from_row(row) for row in rows]

    @strawberry.field(
        description="A user's passkeys (administrators); empty for an unknown user.",
        extensions=[requires(scope=USERS_READ, admin=True)],
    )
    async def user_passkeys(self, info: Info, id: UserId) -> list[Passkey]:
        return await of_user(info, id, passkeys_domain.user_passkeys, Passkey.from_row)
