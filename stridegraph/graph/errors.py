"""The mutation error model: domain problems become ``UserError`` payload data.

One pattern for every mutation: its payload extends :class:`Payload` (which holds
``errors``), and its resolver calls :func:`run_mutation` once, with the payload class as the
error mapping and any global id argument as a :class:`GlobalId`. Queries call
:func:`run_query`. Both decode ids with :func:`decode_id`, so a malformed id means the same
everywhere (see there)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from inspect import signature
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from stridegraph.domain.errors import DomainError, ErrorCode, Forbidden, Problem, Unauthenticated
from stridegraph.graph.enums import described_enum
from stridegraph.graph.ids import parse_global_id
from stridegraph.graph.permissions import forbidden, unauthenticated

UserErrorCode = described_enum(
    ErrorCode,
    name="UserErrorCode",
    description="Why a mutation refused.",
    values={
        "INVALID": "The value is malformed or not one the field accepts (a malformed id, too).",
        "REQUIRED": "The field must be given and not empty.",
        "TOO_SHORT": "The value is shorter than the field's minimum.",
        "TOO_LONG": "The value is longer than the field's maximum.",
        "OUT_OF_RANGE": "The number or date is outside the field's range.",
        "USERNAME_TAKEN": "Another account has this username.",
        "EMAIL_TAKEN": "Another account has this e-mail address.",
        "NOT_FOUND": "No such object, or not one you may see.",
        "INVALID_CREDENTIALS": "The username or the password is wrong (the answer does not "
        "say which).",
        "ACCOUNT_INACTIVE": "The account is deactivated.",
        "EMAIL_NOT_VERIFIED": "The account's e-mail address is not verified yet: follow the "
        "link in the mail we sent.",
        "PENDING_APPROVAL": "The account waits for an administrator's approval.",
        "PASSWORD_TOO_WEAK": "The password does not meet the server's password policy.",
        "INVALID_TOKEN": "The token is wrong, already used or expired.",
        "INVALID_CODE": "The authenticator or backup code is wrong or already used.",
        "MFA_ALREADY_ENABLED": "Two-factor authentication is already on.",
        "MFA_NOT_ENABLED": "Two-factor authentication is not on.",
        "SIGNUP_DISABLED": "This server does not take sign-ups.",
        "LAST_ADMIN": "The change would leave the server without an active administrator.",
        "CANNOT_MODIFY_SELF": "Administrators cannot do this to their own account.",
        "TOO_MANY_ATTEMPTS": "Too many tries: wait retryAfterSeconds before the next one.",
        "UNSUPPORTED_IMAGE": "The file is not an image in a supported format.",
        "FILE_TOO_LARGE": "The file is larger than the server accepts.",
        "MAIL_DISABLED": "Mail is off on this server, so nothing can be sent.",
        "SCOPE_NOT_ALLOWED": "A requested scope is not one you may grant.",
        "REAUTHENTICATION_REQUIRED": "Confirm with your current password or a code (you did "
        "not sign in within the last few minutes).",
        "PROVIDER_UNAVAILABLE": "The sign-in provider is unknown, disabled or did not answer.",
        "IDENTITY_ALREADY_LINKED": "This external identity is already linked to an account.",
        "LAST_SIGN_IN_METHOD": "The change would leave the account without a way to sign in.",
    },
)


@strawberry.type(description="A problem with a mutation's input; nothing was changed.")
class UserError:
    field: str | None = strawberry.field(description="The input field, in camelCase, or null.")
    code: UserErrorCode = strawberry.field(  # type: ignore[valid-type]
        description="What is wrong, for programs to act on."
    )
    message: str = strawberry.field(description="What is wrong, in English, for people.")
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="For TOO_MANY_ATTEMPTS: seconds until a new try is counted."
    )


@strawberry.type(description="What every mutation answers besides its result.")
class Payload:
    """The base of every mutation payload: ``errors`` declared once."""

    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Why the mutation refused, one entry per problem; empty when it "
        "succeeded. When it is not empty, nothing was changed.",
    )


def outcome(description: str) -> Any:
    """A payload's result field: null when the mutation refused, so every payload says it the
    same way (``description`` says what the field holds when it succeeded)."""
    return strawberry.field(
        default=None, description=f"{description}; null if the mutation refused."
    )


def decode_id(value: str, type_name: str, field: str = "id") -> int:
    """The row id inside a global id of ``type_name``.

    The one behaviour for a malformed id (not the canonical global id of that type, see
    ``graph.ids``): it is INVALID on its argument, never a silent "not found". In a mutation
    that is a payload error ``{field: "id", code: INVALID}`` (through :func:`run_mutation`);
    in a query a top-level ``BAD_USER_INPUT`` naming the argument (through
    :func:`run_query`). A well-formed id of nothing is the operation's own answer
    (NOT_FOUND, or null)."""
    row_id = parse_global_id(value, type_name)
    if row_id is None:
        raise DomainError.of(ErrorCode.INVALID, f"{camel(field)} is not a {type_name} id.", field)
    return row_id


@dataclass(frozen=True)
class GlobalId:
    """A global id argument handed to :func:`run_mutation` / :func:`run_query`, decoded by
    :func:`decode_id` inside it, so a malformed one is mapped like any domain problem."""

    value: str
    type_name: str
    field: str = "id"

    def decode(self) -> int:
        return decode_id(self.value, self.type_name, self.field)


def _decoded(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v.decode() if isinstance(v, GlobalId) else v for k, v in kwargs.items()}


@cache
def _takes_viewer(fn: Callable[..., Any]) -> bool:
    return "viewer" in signature(fn).parameters


def _arguments(info: Info, fn: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The domain function's keywords: the resolver's, with global ids decoded, and the
    request's viewer when ``fn`` takes one (the domain decides who may act, so every
    resolver would hand it over the same way; one that passes ``viewer`` itself wins)."""
    arguments = _decoded(kwargs)
    if "viewer" not in arguments and _takes_viewer(fn):
        arguments["viewer"] = info.context.viewer
    return arguments


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
    on_error: type[Payload] | Callable[[list[UserError]], Any],
    /,
    **kwargs: Any,
) -> Any:
    """Run one domain function as the request's transaction and map the outcome.

    ``fn`` gets the request's viewer when it takes one (see :func:`_arguments`).
    Domain errors (and a malformed :class:`GlobalId` argument, before anything runs) roll
    back and become ``errors`` in the payload: ``on_error`` is the payload class (or a
    function of the errors); Unauthenticated/Forbidden become top-level errors; anything else
    propagates (and is masked by the schema).
    """
    unit = info.context.unit
    try:
        result = await unit.transaction(fn, **_arguments(info, fn, kwargs))
    except DomainError as exc:
        errors = to_user_errors(exc.problems)
        mapper: Any = on_error
        if isinstance(mapper, type) and issubclass(mapper, Payload):
            return mapper(errors=errors)
        return mapper(errors)
    except Unauthenticated as exc:
        raise unauthenticated(str(exc), exc.reason) from None
    except Forbidden as exc:
        raise forbidden(str(exc)) from None
    return on_success(result)


def query_error(exc: DomainError) -> GraphQLError:
    """A query's input problem as the top-level BAD_USER_INPUT error naming the argument
    (queries have no payload to hold it)."""
    problem = exc.problems[0]
    return bad_user_input(problem.message, camel(problem.field), problem.code.value)


async def run_query(info: Info, fn: Callable[..., Awaitable[T]], /, **kwargs: Any) -> T:
    """Run one read-only domain function under the request lock, mapping auth errors; its
    input problems (a malformed :class:`GlobalId`, a page size, a cursor) become one
    top-level BAD_USER_INPUT error naming the argument. Like :func:`run_mutation`, ``fn``
    gets the request's viewer when it takes one."""
    with _query_errors():
        return await info.context.unit.run(fn, **_arguments(info, fn, kwargs))
    raise AssertionError("unreachable")  # pragma: no cover


def check_query(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """:func:`run_query` for a domain rule that reads nothing (the viewer's own record):
    the same error mapping, without the unit's lock and task."""
    with _query_errors():
        return fn(**_decoded(kwargs))
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def _query_errors() -> Iterator[None]:
    try:
        yield
    except DomainError as exc:
        raise query_error(exc) from None
    except Unauthenticated as exc:
        raise unauthenticated(str(exc), exc.reason) from None
    except Forbidden as exc:
        raise forbidden(str(exc)) from None
