"""Shared look-ups for the user queries, ``node`` and federation ``_entities``."""

from __future__ import annotations

from collections.abc import Iterable

from strawberry import relay
from strawberry.types import Info

from stridegraph.domain import users as users_domain
from stridegraph.graph.users.types import User


async def visible_users_by_ids(
    info: Info, ids: list[int], node_ids: Iterable[str]
) -> list[User | None]:
    ctx = info.context
    found = await ctx.unit.run(users_domain.visible_by_ids, viewer=ctx.viewer, ids=ids)
    public_url = ctx.services.settings.public_url
    out: list[User | None] = []
    for raw in node_ids:
        row = found.get(int(raw)) if raw.isdigit() else None
        out.append(User.from_row(row, public_url) if row else None)
    return out


def parse_user_id(global_id: str) -> int | None:
    """The integer id inside a ``User`` global id, or None when it is not one."""
    try:
        type_name, raw = relay.from_base64(global_id)
    except Exception:
        return None
    return int(raw) if type_name == "User" and raw.isdigit() else None


async def user_by_global_id(info: Info, global_id: str) -> User | None:
    user_id = parse_user_id(global_id)
    if user_id is None:
        return None
    return (await visible_users_by_ids(info, [user_id], [str(user_id)]))[0]
