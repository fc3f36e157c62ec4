"""What an administrator's operations on one user (by the user's global id) share: the
mutations (``updateUser``, ``revokeUserPasskeys``, ``resetUserMfa``…) and the lists of a
user's credentials (``userPasskeys``, ``userIdentities``, ``userApiTokens``). The id is
decoded one way for all of them (``decode_id``: a malformed one is INVALID in a mutation,
BAD_USER_INPUT in a query) and handed to the domain as ``user_id``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from stridegraph.graph.errors import GlobalId, Payload, run_mutation, run_query

R = TypeVar("R")
T = TypeVar("T")


async def on_user(
    info: Info,
    id: strawberry.ID,
    fn: Callable[..., Awaitable[R]],
    on_success: Callable[[R], Any],
    payload: type[Payload],
    /,
    **kwargs: Any,
) -> Any:
    """Run an administrator's mutation on the user ``id`` names (see :func:`run_mutation`)."""
    return await run_mutation(info, fn, on_success, payload, user_id=GlobalId(id, "User"), **kwargs)


async def of_user(
    info: Info,
    id: strawberry.ID,
    fn: Callable[..., Awaitable[Iterable[R]]],
    each: Callable[[R], T],
) -> list[T]:
    """The user's credentials ``fn`` lists for an administrator, each mapped by ``each``."""
    return [each(row) for row in await run_query(info, fn, user_id=GlobalId(id, "User"))]


def revoked(payload: Callable[..., T]) -> Callable[[int], T]:
    """The success mapping of a "revoke all of a user's X" mutation: the count that ended."""
    return lambda count: payload(revoked_count=count)
