"""``User`` (what others see), ``UserMe`` (the viewer's own record) and ``PrivacySettings``.

Both user types wrap the stored row: a view holds the row's columns, copied in one C-level
step when it is made (no Python work per field: a listing of 100 users makes 100 views, and
per-field properties cost more than the page's SQL), and what needs the request (the photo
URL's public address, the viewer for private fields) comes from the context the view was
made in; the photo URL is computed only when selected. Their common fields are declared once
(:class:`UserFields`, descriptions from ``domain/profile_fields``); ``User`` makes the private
ones nullable, ``UserMe`` adds its own.

Private fields of ``User`` are null for a viewer who may not read them, without an error:
the decision (``domain/visibility.may_read_private``) is taken once per object, when it is
made, not per field, which a permission class per field per row would
cost (it made every private field of a listing an awaitable of its own). A masked value is
never returned, whatever resolves the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from stridegraph.db import models
from stridegraph.db.users import ListedUser, user_values
from stridegraph.domain.errors import DomainError
from stridegraph.domain.passkeys import count_passkeys
from stridegraph.domain.profile_fields import describe
from stridegraph.domain.visibility import may_read_private
from stridegraph.graph.enums import (
    AccessType,
    ActivityVisibility,
    Currency,
    Gender,
    Language,
    Units,
    WeekDay,
)
from stridegraph.graph.errors import decode_id, query_error, run_query
from stridegraph.graph.ids import parse_row_id

#: ``User`` fields only the user and admins may read (null for anyone else).
PRIVATE_FIELDS: tuple[str, ...] = (
    "email",
    "birthdate",
    "preferred_language",
    "gender",
    "units",
    "height",
    "max_heart_rate",
    "first_day_of_week",
    "currency",
    "active",
    "mfa_enabled",
    "email_verified",
    "pending_admin_approval",
)


def photo_url(row: models.User | ListedUser, public_url: str) -> str | None:
    """A URL that changes whenever the photo changes (the stored name is content-derived)."""
    if not row.photo_path:
        return None
    version = row.photo_path.rsplit("/", 1)[-1].split(".", 1)[0][:16]
    return f"{public_url}/photos/{row.id}?v={version}"


#: Private fields as a viewer who may not read them sees them.
_MASKED = dict.fromkeys(PRIVATE_FIELDS)


class RowView:
    """How both user types read their row. The view's attributes are the row's columns,
    copied in one C-level step (``db.users.user_values``: no Python work per field, and a
    listing page makes fifty views), with the private ones nulled for a viewer who may not
    read them (decided once per view); what needs more than the row (the photo URL) is a
    property, computed only when the field is resolved."""

    row: models.User | ListedUser
    context: Any
    readable: bool
    #: UserMe: the viewer's own record, every field readable
    _always_readable = False

    @classmethod
    def of(cls, row: models.User | ListedUser, context: Any) -> Any:
        """The type over ``row``, for the request of ``context`` (its viewer and services).
        No dataclass ``__init__``."""
        view = cls.__new__(cls)
        values = view.__dict__
        values.update(user_values(row))
        values["row"] = row
        values["context"] = context
        readable = cls._always_readable or may_read_private(context.viewer, values["id"])
        if not readable:
            values.update(_MASKED)
        values["readable"] = readable
        return view

    @property
    def photo_url(self) -> str | None:
        return photo_url(self.row, self.context.services.settings.public_url)

    @property
    def user_id(self) -> int:
        return self.row.id


class UserRowView(RowView):
    """``User``'s id is the row id (``relay.Node`` encodes it)."""


class UserMeRowView(RowView):
    """``UserMe``'s id is the User global id; every field is the viewer's own."""

    _always_readable = True

    @property
    def id(self) -> strawberry.ID:
        return strawberry.ID(relay.to_base64("User", self.row.id))


@strawberry.type(description="The fields every view of a user has.")
class UserFields:
    username: str = strawberry.field(description=describe("username"))
    name: str = strawberry.field(description=describe("name"))
    city: str | None = strawberry.field(description=describe("city"))
    birthdate: dt.date | None = strawberry.field(description=describe("birthdate"))
    height: int | None = strawberry.field(description=describe("height"))
    max_heart_rate: int | None = strawberry.field(description=describe("max_heart_rate"))
    access_type: AccessType = strawberry.field(  # type: ignore[valid-type]
        description="The role: ADMIN or REGULAR."
    )
    photo_url: str | None = strawberry.field(
        description="The photo's address (GET it with the same credentials); it changes "
        "whenever the photo does, so it can be cached. Null without a photo."
    )
    created_at: dt.datetime = strawberry.field(description="When the account was made.")


async def _privacy(info: Info, user_id: int) -> PrivacySettings:
    return PrivacySettings.from_row(await info.context.loaders.privacy_by_user.load(user_id))


async def _linked(info: Info, user_id: int, column: str) -> bool:
    row = await info.context.loaders.integrations_by_user.load(user_id)
    return bool(row and getattr(row, column))


@strawberry.federation.type(keys=["id"], description="A user account as others see it.")
class User(UserFields, UserRowView, relay.Node):
    id: relay.NodeID[int]
    email: str | None = strawberry.field(
        description="The user's and admins' view only. " + describe("email")
    )
    preferred_language: Language | None = strawberry.field(  # type: ignore[valid-type]
        description=describe("preferred_language")
    )
    gender: Gender | None = strawberry.field(description=describe("gender"))  # type: ignore[valid-type]
    units: Units | None = strawberry.field(description=describe("units"))  # type: ignore[valid-type]
    first_day_of_week: WeekDay | None = strawberry.field(  # type: ignore[valid-type]
        description=describe("first_day_of_week")
    )
    currency: Currency | None = strawberry.field(description=describe("currency"))  # type: ignore[valid-type]
    active: bool | None = strawberry.field(description="False: deactivated by an admin.")
    mfa_enabled: bool | None = strawberry.field(description="Whether sign-in asks for a code.")
    email_verified: bool | None = strawberry.field(
        description="Whether the address has been proven (or vouched for by an admin)."
    )
    pending_admin_approval: bool | None = strawberry.field(
        description="Whether the sign-up waits for an administrator (approveUser)."
    )

    @strawberry.field(description="How many external identity providers are linked.")
    async def external_auth_count(self, info: Info) -> int | None:
        if not self.readable:
            return None
        return await info.context.loaders.external_auth_count.load(self.row.id)

    @strawberry.field(description="Whether a Strava account is linked.")
    async def is_strava_linked(self, info: Info) -> bool | None:
        return await _linked(info, self.row.id, "strava_linked") if self.readable else None

    @strawberry.field(description="Whether a Garmin Connect account is linked.")
    async def is_garminconnect_linked(self, info: Info) -> bool | None:
        if not self.readable:
            return None
        return await _linked(info, self.row.id, "garminconnect_linked")

    @strawberry.field(description="The user's privacy choices (the user and admins only).")
    async def privacy_settings(self, info: Info) -> PrivacySettings | None:
        return await _privacy(info, self.row.id) if self.readable else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[User | None]:
        """``node(id:)``: the same visibility as ``user(id:)``, batched per request."""
        return await visible_users(info, [parse_row_id(raw) for raw in node_ids])

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> User | None:
        """Federation ``_entities``: same visibility as ``user(id:)``; a malformed id is
        BAD_USER_INPUT (``graph.errors.decode_id``)."""
        return (await visible_users(info, [require_user_id(str(id))]))[0]


async def visible_users(info: Info, ids: list[int | None]) -> list[User | None]:
    """Users by integer id, null where absent or not visible to the viewer. Batched: every
    look-up of one request shares one SQL statement."""
    ctx = info.context
    loader = ctx.loaders.visible_users(ctx.viewer)
    rows = await loader.load_many([i for i in ids if i is not None])
    found = {row.id: row for row in rows if row is not None}
    return [User.of(found[i], ctx) if i is not None and i in found else None for i in ids]


def require_user_id(global_id: str, argument: str = "id") -> int:
    """For queries: a malformed id is a BAD_USER_INPUT error, not a silent null."""
    try:
        return decode_id(global_id, "User", argument)
    except DomainError as exc:
        raise query_error(exc) from None


@strawberry.type(description="The viewer's privacy choices for their activities.")
class PrivacySettings:
    default_activity_visibility: ActivityVisibility = strawberry.field(  # type: ignore[valid-type]
        description="Who sees a new activity unless it says otherwise."
    )
    hide_activity_start_time: bool = strawberry.field(
        description="Hide the start time of your activities from others."
    )
    hide_activity_location: bool = strawberry.field(
        description="Hide the location of your activities from others."
    )
    hide_activity_map: bool = strawberry.field(
        description="Hide the map of your activities from others."
    )
    hide_activity_hr: bool = strawberry.field(
        description="Hide the heart rate of your activities from others."
    )
    hide_activity_power: bool = strawberry.field(
        description="Hide the power of your activities from others."
    )
    hide_activity_cadence: bool = strawberry.field(
        description="Hide the cadence of your activities from others."
    )
    hide_activity_elevation: bool = strawberry.field(
        description="Hide the elevation of your activities from others."
    )
    hide_activity_speed: bool = strawberry.field(
        description="Hide the speed of your activities from others."
    )
    hide_activity_pace: bool = strawberry.field(
        description="Hide the pace of your activities from others."
    )
    hide_activity_laps: bool = strawberry.field(
        description="Hide the laps of your activities from others."
    )
    hide_activity_workout_sets_steps: bool = strawberry.field(
        description="Hide the workout sets and steps of your activities from others."
    )
    hide_activity_gear: bool = strawberry.field(
        description="Hide the gear of your activities from others."
    )

    @classmethod
    def from_row(cls, row: models.PrivacySettings | None) -> PrivacySettings:
        row = row or models.PrivacySettings(
            default_activity_visibility=models.ActivityVisibility.PUBLIC,
            **dict.fromkeys(models.HIDE_FLAGS, False),
        )
        return cls(
            default_activity_visibility=row.default_activity_visibility,
            **{flag: bool(getattr(row, flag)) for flag in models.HIDE_FLAGS},
        )


@strawberry.type(
    description="The signed-in user's own record: every field of User, never null "
    "where User is null only for privacy, and the viewer's own settings."
)
class UserMe(UserFields, UserMeRowView):
    id: strawberry.ID = strawberry.field(description="The same global id as the User's.")
    email: str = strawberry.field(description=describe("email"))
    preferred_language: Language = strawberry.field(  # type: ignore[valid-type]
        description=describe("preferred_language")
    )
    gender: Gender = strawberry.field(description=describe("gender"))  # type: ignore[valid-type]
    units: Units = strawberry.field(description=describe("units"))  # type: ignore[valid-type]
    first_day_of_week: WeekDay = strawberry.field(  # type: ignore[valid-type]
        description=describe("first_day_of_week")
    )
    currency: Currency = strawberry.field(description=describe("currency"))  # type: ignore[valid-type]
    active: bool = strawberry.field(description="False: deactivated by an admin.")
    mfa_enabled: bool = strawberry.field(description="Whether sign-in asks for a code.")
    email_verified: bool = strawberry.field(
        description="Whether the address has been proven (or vouched for by an admin)."
    )
    pending_admin_approval: bool = strawberry.field(
        description="Whether the sign-up waits for an administrator."
    )

    @strawberry.field(description="How many external identity providers are linked.")
    async def external_auth_count(self, info: Info) -> int:
        return await info.context.loaders.external_auth_count.load(self.row.id)

    @strawberry.field(description="How many passkeys can sign in to this account.")
    async def passkey_count(self, info: Info) -> int:
        return int(await run_query(info, count_passkeys, user_id=self.user_id))

    @strawberry.field(description="Whether a Strava account is linked.")
    async def is_strava_linked(self, info: Info) -> bool:
        return await _linked(info, self.row.id, "strava_linked")

    @strawberry.field(description="Whether a Garmin Connect account is linked.")
    async def is_garminconnect_linked(self, info: Info) -> bool:
        return await _linked(info, self.row.id, "garminconnect_linked")

    @strawberry.field(description="Your privacy choices for your activities.")
    async def privacy_settings(self, info: Info) -> PrivacySettings:
        return await _privacy(info, self.row.id)


@strawberry.type(description="A user in a connection, with the cursor to page from it.")
class UserEdge:
    cursor: str = strawberry.field(description="Pass as after (or before) to page from here.")
    node: User = strawberry.field(description="The user.")


@strawberry.type(description="A page of users (Relay connection, keyset cursors).")
class UserConnection:
    edges: list[UserEdge] = strawberry.field(
        description="The users of this page, with their cursors."
    )
    page_info: relay.PageInfo = strawberry.field(
        description="Whether more users follow or precede, and the cursors to get them."
    )
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="The users of this page, without cursors.")
    def nodes(self) -> list[User]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many users match the filter (all pages).")
    async def total_count(self) -> int:
        return await self.count_total()


@strawberry.type(description="A numbered page of users, with the totals to page through.")
class UserPage:
    total_count: int = strawberry.field(description="How many users match (all pages).")
    page: int = strawberry.field(description="This page's number, from 1.")
    per_page: int = strawberry.field(description="Users per page.")
    page_count: int = strawberry.field(description="How many pages there are.")
    items: list[User] = strawberry.field(description="The users of this page.")
