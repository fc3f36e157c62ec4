"""Shared plumbing of the user queries, ``node`` and federation ``_entities``: the id
argument and visibility-checked look-ups (batched per request)."""

from __future__ import annotations

from collections.abc import Iterable

from strawberry.types import Info

from stridegraph.domain.errors import DomainError
from stridegraph.graph.errors import decode_id, query_error
from stridegraph.graph.ids import parse_row_id
from stridegraph.graph.users.types import User


def require_user_id(global_id: str, argument: str = "id") -> int:
    """For queries: a malformed id is a BAD_USER_INPUT error, not a silent null
    (``decode_id``)."""
    try:
        return decode_id(global_id, "User", argument)
    except DomainError as exc:
        raise query_error(exc) from None


async def visible_users_by_ids(info: Info, node_ids: Iterable[str]) -> list[User | None]:
    """Users by their integer ids (as strings), null where absent or not visible. Batched:
    every look-up of one request shares one SQL statement."""
    ctx = info.context
    loader = ctx.loaders.visible_users(ctx.viewer)
    ids = [parse_row_id(raw) for raw in node_ids]
    rows = await loader.load_many([i for i in ids if i is not None])
    found = {row.id: row for row in rows if row is not None}
    public_url = ctx.services.settings.public_url
    return [
        User.from_row(found[i], public_url, ctx.viewer) if i is not None and i in found else None
        for i in ids
    ]


async def user_by_global_id(info: Info, global_id: str) -> User | None:
    """Federation ``_entities``: a malformed id is BAD_USER_INPUT, as for ``user(id:)``."""
    user_id = require_user_id(global_id)
    return (await visible_users_by_ids(info, [str(user_id)]))[0]
