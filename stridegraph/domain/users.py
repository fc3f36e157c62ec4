"""Reading user records, and who may see which.

Rules (the contract's permissions table):
- Reading other users needs ``users:read``; an anonymous viewer may read only while the
  ``publicProfiles`` setting is on (the seed's public_check), and then sees public fields of
  active users only. Otherwise the operation fails (UNAUTHENTICATED / FORBIDDEN).
- Non-admins never see inactive or unapproved users, in look-ups and listings alike.
- The admin filters (``active``, ``emailVerified``, ``pendingAdminApproval``) are refused with
  FORBIDDEN for non-admins rather than silently ignored: a client that asks for them must
  learn that its answer would not mean what it asked. ``search`` matches e-mail addresses
  only for admins (for others it matches username and name, as the contract says).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from stridegraph.db import settings as settings_rows
from stridegraph.db import users as user_rows
from stridegraph.db.enums import AccessType
from stridegraph.db.models import User
from stridegraph.domain.access import require
from stridegraph.domain.errors import DomainError, ErrorCode, Forbidden, Unauthenticated
from stridegraph.domain.keys import MAX_ROW_ID
from stridegraph.domain.paging import DEFAULT_FIRST, check_bounds
from stridegraph.domain.scopes import USERS_READ
from stridegraph.domain.text import has_forbidden_character
from stridegraph.domain.unit import Unit
from stridegraph.domain.validation import MAX_TEXT
from stridegraph.domain.viewer import Viewer
from stridegraph.domain.visibility import may_see


async def visible_by_ids(
    unit: Unit, *, viewer: Viewer | None, ids: Sequence[int]
) -> dict[int, User]:
    """The users among ``ids`` the viewer may see, keyed by id (others are simply absent).

    Never raises: for callers that answer "not found" rather than refusing (e.g. photos)."""
    if viewer is None and not (await settings_rows.get(unit.session)).public_profiles:
        return {}
    found = await user_rows.get_many(unit.session, ids)
    return {i: u for i, u in found.items() if may_see(viewer, u)}


def get_me(*, viewer: Viewer | None) -> User:
    """The viewer's own record: loaded with the viewer, so nothing is read (the resolver
    calls it without the unit: ``graph.errors.check_query``)."""
    return require(viewer).user


# --------------------------------------------------------------------------- reading others


async def require_reader(unit: Unit, viewer: Viewer | None) -> bool:
    """Refuse a viewer who may not read users at all; return whether they read as an admin.

    The graph layer checks the same on each field; this repeats it for paths without field
    permissions (federation ``_entities``) and so the rule lives in one place."""
    if viewer is None:
        if not (await settings_rows.get(unit.session)).public_profiles:
            raise Unauthenticated("Sign in to see users; this server's profiles are not public.")
        return False
    if not viewer.has(USERS_READ):
        raise Forbidden(f"This needs the {USERS_READ} scope.")
    return viewer.is_admin


def _visible(viewer: Viewer | None, user: User | None) -> User | None:
    return user if user is not None and may_see(viewer, user) else None


async def users_by_ids(unit: Unit, *, viewer: Viewer | None, ids: Sequence[int]) -> dict[int, User]:
    """``user(id:)``, ``node`` and ``_entities``: the visible users among ``ids``."""
    await require_reader(unit, viewer)
    found = await user_rows.get_many(unit.session, ids) if ids else {}
    return {i: u for i, u in found.items() if may_see(viewer, u)}


def _check_lookup(value: str, field: str) -> None:
    """No stored username or e-mail is longer than this: say so rather than search."""
    if len(value) > MAX_TEXT:
        raise DomainError.of(
            ErrorCode.TOO_LONG, f"{field} may have at most {MAX_TEXT} characters.", field
        )


async def user_by_username(unit: Unit, *, viewer: Viewer | None, username: str) -> User | None:
    await require_reader(unit, viewer)
    _check_lookup(username, "username")
    return _visible(viewer, await user_rows.get_by_username(unit.session, username))


async def user_by_email(unit: Unit, *, viewer: Viewer | None, email: str) -> User | None:
    """Admins only; matched case-insensitively."""
    if not await require_reader(unit, viewer):
        raise Forbidden("This needs an administrator.")
    _check_lookup(email, "email")
    return await user_rows.get_by_email(unit.session, email.strip())


# --------------------------------------------------------------------------- listings


class OrderField(enum.Enum):
    """The only sort keys a listing accepts; ties are always broken by id."""

    USERNAME = "username"
    NAME = "name"
    CREATED_AT = "created_at"
    ACCESS_TYPE = "access_type"


@dataclass(frozen=True)
class UserFilter:
    search: str | None = None
    access_type: AccessType | None = None
    active: bool | None = None
    email_verified: bool | None = None
    pending_admin_approval: bool | None = None


@dataclass(frozen=True)
class UserOrder:
    field: OrderField = OrderField.USERNAME
    descending: bool = False


@dataclass(frozen=True)
class UserEdge:
    user: user_rows.ListedUser
    cursor: str


@dataclass(frozen=True)
class UserSlice:
    """One page of a keyset-paginated listing."""

    edges: list[UserEdge]
    has_next_page: bool
    has_previous_page: bool
    #: How many users match the filter (all pages), when it was asked for and came with the
    #: page; None otherwise (``count_users`` answers it then).
    total_count: int | None = None


@dataclass(frozen=True)
class UserPage:
    """One page of an offset-paginated listing (the seed's UsersListResponse)."""

    users: list[user_rows.ListedUser]
    total_count: int
    page: int
    per_page: int

    @property
    def page_count(self) -> int:
        return math.ceil(self.total_count / self.per_page) if self.per_page else 0


def bad_input(message: str, field: str | None = None) -> DomainError:
    return DomainError.of(ErrorCode.INVALID, message, field)


async def _list_filter(
    unit: Unit, viewer: Viewer | None, wanted: UserFilter | None
) -> user_rows.UserListFilter:
    """Check the viewer may list users with this filter; build the SQL-level filter."""
    as_admin = await require_reader(unit, viewer)
    wanted = wanted or UserFilter()
    admin_only = (wanted.active, wanted.email_verified, wanted.pending_admin_approval)
    if not as_admin and any(value is not None for value in admin_only):
        raise Forbidden(
            "The active, emailVerified and pendingAdminApproval filters are for administrators."
        )
    search = (wanted.search or "").strip() or None
    if search is not None and len(search) > MAX_TEXT:
        raise DomainError.of(
            ErrorCode.TOO_LONG, f"search may have at most {MAX_TEXT} characters.", "search"
        )
    return user_rows.UserListFilter(
        search=search,
        search_email=as_admin,
        access_type=wanted.access_type,
        active=wanted.active,
        email_verified=wanted.email_verified,
        pending_admin_approval=wanted.pending_admin_approval,
        listed_only=not as_admin,
    )


def encode_cursor(field: OrderField, value: Any, user_id: int) -> str:
    """An opaque cursor: the sort key's value as the database computed it, plus the id."""
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    elif isinstance(value, enum.Enum):
        value = value.value
    key = [field.value, value, user_id]
    try:  # orjson: fifty cursors a page; it writes non-ASCII as UTF-8, json.loads reads both
        raw = orjson.dumps(key)
    except TypeError:  # a lone surrogate (a sort key is stored text, checked on the way in)
        raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR_TEXT = 4 * MAX_TEXT  # a sort key is a stored username or name (at most MAX_TEXT)


def decode_cursor(cursor: str, field: OrderField, name: str) -> user_rows.Keyset:
    """The position a cursor names; INVALID when it is malformed or from another order.

    Cursors are opaque but client-held, so a crafted one is checked like any input: the
    id a possible row id, a timestamp with its offset (normalised to UTC, so every
    database compares it alike), text without NUL or lone surrogates."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, value, user_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if (
            kind != field.value
            or not isinstance(user_id, int)
            or isinstance(user_id, bool)
            or not 0 < user_id <= MAX_ROW_ID
        ):
            raise ValueError(kind)
        value = _cursor_key(field, value)
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error):
        raise bad_input(f"{name} is not a cursor of this listing and order.", name) from None
    return user_rows.Keyset(value=value, id=user_id)


def _cursor_key(field: OrderField, value: object) -> Any:
    """The sort key a cursor holds, as the listing's SQL compares it; ValueError if wrong."""
    if not isinstance(value, str) or len(value) > MAX_CURSOR_TEXT:
        raise ValueError(value)
    if field is OrderField.CREATED_AT:
        moment = dt.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(value)
        return moment.astimezone(dt.UTC)
    if field is OrderField.ACCESS_TYPE:
        return AccessType(value)
    if has_forbidden_character(value):
        raise ValueError(value)
    return value


async def users_connection(
    unit: Unit,
    *,
    viewer: Viewer | None,
    filter: UserFilter | None = None,
    order: UserOrder | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    with_total: bool = False,
) -> UserSlice:
    """A Relay page by keyset: ``first``/``after`` forwards, ``last``/``before`` backwards.

    ``hasPreviousPage`` when paging forwards (and ``hasNextPage`` backwards) is answered the
    way GitHub does: true when a cursor was given, without a second query. ``with_total``:
    the caller will want ``totalCount``, so it is computed in the page's own statement."""
    order = order or UserOrder()
    check_bounds("first", first)
    check_bounds("last", last)
    if first is not None and last is not None:
        raise bad_input("Give first or last, not both.", "last")
    spec = await _list_filter(unit, viewer, filter)
    after_key = decode_cursor(after, order.field, "after") if after else None
    before_key = decode_cursor(before, order.field, "before") if before else None
    backwards = last is not None
    size = last if last is not None else first if first is not None else DEFAULT_FIRST
    rows = await user_rows.list_users(
        unit.direct_reads(),
        unit.session_reads,
        spec,
        sort=order.field.value,
        descending=order.descending != backwards,
        after=before_key if backwards else after_key,
        before=after_key if backwards else before_key,
        limit=size + 1,
        count_all=with_total,
    )
    total = rows[0].total if with_total and rows else None
    if with_total and total is None and after_key is None and before_key is None:
        total = 0  # an empty first page: nothing matches at all
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    field = order.field
    edges = [UserEdge(user, encode_cursor(field, user.sort_key, user.id)) for user in rows]
    if backwards:
        return UserSlice(
            edges, has_next_page=before is not None, has_previous_page=more, total_count=total
        )
    return UserSlice(
        edges, has_next_page=more, has_previous_page=after is not None, total_count=total
    )


async def count_users(unit: Unit, *, viewer: Viewer | None, filter: UserFilter | None) -> int:
    """``totalCount``: how many users the listing's filter matches for this viewer."""
    spec = await _list_filter(unit, viewer, filter)
    return await user_rows.count_users(unit.session, spec)


async def users_page(
    unit: Unit,
    *,
    viewer: Viewer | None,
    filter: UserFilter | None = None,
    order: UserOrder | None = None,
    page: int = 1,
    per_page: int = 10,
) -> UserPage:
    """Offset pagination, for UIs with numbered pages (``userPage``)."""
    order = order or UserOrder()
    check_bounds("page", page)
    check_bounds("per_page", per_page)
    spec = await _list_filter(unit, viewer, filter)
    offset = (page - 1) * per_page
    rows = await user_rows.list_users(
        unit.direct_reads(),
        unit.session_reads,
        spec,
        sort=order.field.value,
        descending=order.descending,
        limit=per_page,
        offset=offset,
    )
    if rows:
        total = rows[0].total
    else:  # an empty page: nothing matches, or it lies past the last one
        total = 0 if offset == 0 else await user_rows.count_users(unit.session, spec)
    return UserPage(rows, total, page, per_page)
