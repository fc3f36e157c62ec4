"""The mutation error model: domain problems become ``UserError`` payload data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from stridegraph.domain.errors import DomainError, ErrorCode, Forbidden, Problem, Unauthenticated
from stridegraph.graph.permissions import forbidden, unauthenticated

UserErrorCode = strawberry.enum(
    ErrorCode, name="UserErrorCode", description="Why a mutation refused."
)


@strawberry.type(description="A problem with a mutation's input; nothing was changed.")
class UserError:
    field: str | None = strawberry.field(description="The input field, in camelCase, or null.")
    code: UserErrorCode  # type: ignore[valid-type]
    message: str
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="For TOO_MANY_ATTEMPTS: seconds until a new try is counted."
    )


def bad_user_input(message: str, field: str | None = None, reason: str = "INVALID") -> GraphQLError:
    """A top-level error about an argument (or the request itself): BAD_USER_INPUT, with the
    argument's name in ``extensions.field`` when there is one."""
    extensions: dict[str, Any] = {"code": "BAD_USER_INPUT", "reason": reason}
    if field:
        extensions["field"] = field
    return GraphQLError(message, extensions=extensions)


def camel(name: str | None) -> str | None:
    if name is None:
        return None
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_user_errors(problems: tuple[Problem, ...] | list[Problem]) -> list[UserError]:
    return [
        UserError(
            field=camel(p.field),
            code=p.code,
            message=p.message,
            retry_after_seconds=p.retry_after_seconds,
        )
        for p in problems
    ]


T = TypeVar("T")


async def run_mutation(
    info: Info,
    fn: Callable[..., Awaitable[T]],
    on_success: Callable[[T], Any],
    on_error: Callable[[list[UserError]], Any],
    /,
    **kwargs: Any,
) -> Any:
    """Run one domain function as the request's transaction and map the outcome.

    Domain errors roll back and become ``errors`` in the payload; Unauthenticated/Forbidden
    become top-level errors; anything else propagates (and is masked by the schema).
    """
    unit = info.context.unit
    try:
        result = await unit.transaction(fn, **kwargs)
    except DomainError as exc:
        return on_error(to_user_errors(exc.problems))
    except Unauthenticated as exc:
        raise unauthenticated(str(exc), exc.reason) from None
    except Forbidden as exc:
        raise forbidden(str(exc)) from None
    return on_success(result)


async def run_query(info: Info, fn: Callable[..., Awaitable[T]], /, **kwargs: Any) -> T:
    """Run one read-only domain function under the request lock, mapping auth errors."""
    try:
        return await info.context.unit.run(fn, **kwargs)
    except Unauthenticated as exc:
        raise unauthenticated(str(exc), exc.reason) from None
    except Forbidden as exc:
        raise forbidden(str(exc)) from None
