"""Shared plumbing of the user queries, ``node`` and federation ``_entities``: id parsing,
visibility-checked look-ups (batched per request) and the query error mapping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from strawberry.types import Info

from stridegraph.domain.errors import DomainError
from stridegraph.graph.errors import bad_user_input, camel, run_query
from stridegraph.graph.ids import parse_global_id, parse_row_id
from stridegraph.graph.users.types import User

T = TypeVar("T")


async def read(info: Info, fn: Callable[..., Awaitable[T]], /, **kwargs: Any) -> T:
    """Run a read-only domain function; its input problems (page size, cursor, search
    length) become one top-level BAD_USER_INPUT error naming the argument."""
    try:
        return await run_query(info, fn, **kwargs)
    except DomainError as exc:
        problem = exc.problems[0]
        raise bad_user_input(problem.message, camel(problem.field), problem.code.value) from None


def parse_user_id(global_id: str) -> int | None:
    """The integer id inside a canonical ``User`` global id, or None when it is not one."""
    return parse_global_id(global_id, "User")


def require_user_id(global_id: str, argument: str = "id") -> int:
    """For queries: a malformed id is a BAD_USER_INPUT error, not a silent null."""
    user_id = parse_user_id(global_id)
    if user_id is None:
        raise bad_user_input(f"{argument} is not a User id.", argument)
    return user_id


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
