"""``User`` (what others see), ``UserMe`` (the viewer's own record) and ``PrivacySettings``.

Private fields of ``User`` are null for a viewer who may not read them, without an error.
The decision is taken once per ``User`` object, when it is built from its row
(:meth:`User.from_row` needs the viewer): a permission class evaluated per field per row
made every private field of a listing an awaitable of its own, which cost more CPU than
the rest of the listing put together. Masked values are never copied into the object, so
a field cannot leak them whatever resolves it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable

import strawberry
from strawberry import relay
from strawberry.types import Info

from stridegraph.db import models
from stridegraph.domain.viewer import Viewer
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


def photo_url(row: models.User, public_url: str) -> str | None:
    """A URL that changes whenever the photo changes (the stored name is content-derived)."""
    if not row.photo_path:
        return None
    version = row.photo_path.rsplit("/", 1)[-1].split(".", 1)[0][:16]
    return f"{public_url}/photos/{row.id}?v={version}"


@strawberry.federation.type(keys=["id"], description="A user account as others see it.")
class User(relay.Node):
    id: relay.NodeID[int]
    username: str
    name: str
    city: str | None
    access_type: AccessType  # type: ignore[valid-type]
    photo_url: str | None
    created_at: dt.datetime
    email: str | None
    birthdate: dt.date | None
    preferred_language: Language | None  # type: ignore[valid-type]
    gender: Gender | None  # type: ignore[valid-type]
    units: Units | None  # type: ignore[valid-type]
    height: int | None = strawberry.field(description="Centimetres.")
    max_heart_rate: int | None = strawberry.field(description="Beats per minute.")
    first_day_of_week: WeekDay | None  # type: ignore[valid-type]
    currency: Currency | None  # type: ignore[valid-type]
    active: bool | None
    mfa_enabled: bool | None
    email_verified: bool | None
    pending_admin_approval: bool | None
    #: may the viewer read the private fields (decided once, in ``from_row``)
    readable: strawberry.Private[bool]

    @strawberry.field(description="Linked external identity providers.")
    async def external_auth_count(self, info: Info) -> int | None:
        if not self.readable:
            return None
        return await info.context.loaders.external_auth_count.load(self.id)

    @strawberry.field
    async def is_strava_linked(self, info: Info) -> bool | None:
        if not self.readable:
            return None
        row = await info.context.loaders.integrations_by_user.load(self.id)
        return bool(row and row.strava_linked)

    @strawberry.field
    async def is_garminconnect_linked(self, info: Info) -> bool | None:
        if not self.readable:
            return None
        row = await info.context.loaders.integrations_by_user.load(self.id)
        return bool(row and row.garminconnect_linked)

    @strawberry.field(description="The user's privacy choices (the user and admins only).")
    async def privacy_settings(self, info: Info) -> PrivacySettings | None:
        if not self.readable:
            return None
        return PrivacySettings.from_row(await info.context.loaders.privacy_by_user.load(self.id))

    @classmethod
    def from_row(cls, row: models.User, public_url: str, viewer: Viewer | None) -> User:
        """The user as ``viewer`` may see it: private fields null unless ``viewer`` is the
        user or an administrator."""
        readable = may_read_private(viewer, row.id)
        return cls(
            id=row.id,
            username=row.username,
            name=row.name,
            city=row.city,
            access_type=row.access_type,
            photo_url=photo_url(row, public_url),
            created_at=row.created_at,
            readable=readable,
            **{name: getattr(row, name) if readable else None for name in PRIVATE_FIELDS},
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[User | None]:
        """``node(id:)``: the same visibility as ``user(id:)``, batched per request."""
        from stridegraph.graph.users.resolve import visible_users_by_ids

        return await visible_users_by_ids(info, list(node_ids))

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> User | None:
        """Federation ``_entities``: same visibility as ``user(id:)``."""
        from stridegraph.graph.users.resolve import user_by_global_id

        return await user_by_global_id(info, str(id))


@strawberry.type(description="The viewer's privacy choices for their activities.")
class PrivacySettings:
    default_activity_visibility: ActivityVisibility  # type: ignore[valid-type]
    hide_activity_start_time: bool
    hide_activity_location: bool
    hide_activity_map: bool
    hide_activity_hr: bool
    hide_activity_power: bool
    hide_activity_cadence: bool
    hide_activity_elevation: bool
    hide_activity_speed: bool
    hide_activity_pace: bool
    hide_activity_laps: bool
    hide_activity_workout_sets_steps: bool
    hide_activity_gear: bool

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


@strawberry.type(description="The signed-in user's own record (the seed's UsersMe).")
class UserMe:
    id: strawberry.ID
    username: str
    name: str
    email: str
    city: str | None
    birthdate: dt.date | None
    preferred_language: Language  # type: ignore[valid-type]
    gender: Gender  # type: ignore[valid-type]
    units: Units  # type: ignore[valid-type]
    height: int | None
    max_heart_rate: int | None
    first_day_of_week: WeekDay  # type: ignore[valid-type]
    currency: Currency  # type: ignore[valid-type]
    access_type: AccessType  # type: ignore[valid-type]
    photo_url: str | None
    active: bool
    mfa_enabled: bool
    email_verified: bool
    pending_admin_approval: bool
    created_at: dt.datetime
    user_id: strawberry.Private[int]

    @strawberry.field
    async def external_auth_count(self, info: Info) -> int:
        return await info.context.loaders.external_auth_count.load(self.user_id)

    @strawberry.field
    async def is_strava_linked(self, info: Info) -> bool:
        row = await info.context.loaders.integrations_by_user.load(self.user_id)
        return bool(row and row.strava_linked)

    @strawberry.field
    async def is_garminconnect_linked(self, info: Info) -> bool:
        row = await info.context.loaders.integrations_by_user.load(self.user_id)
        return bool(row and row.garminconnect_linked)

    @strawberry.field
    async def privacy_settings(self, info: Info) -> PrivacySettings:
        return PrivacySettings.from_row(
            await info.context.loaders.privacy_by_user.load(self.user_id)
        )

    @classmethod
    def from_row(cls, row: models.User, public_url: str) -> UserMe:
        return cls(
            id=strawberry.ID(relay.to_base64("User", row.id)),
            user_id=row.id,
            username=row.username,
            name=row.name,
            email=row.email,
            city=row.city,
            birthdate=row.birthdate,
            preferred_language=row.preferred_language,
            gender=row.gender,
            units=row.units,
            height=row.height,
            max_heart_rate=row.max_heart_rate,
            first_day_of_week=row.first_day_of_week,
            currency=row.currency,
            access_type=row.access_type,
            photo_url=photo_url(row, public_url),
            active=row.active,
            mfa_enabled=row.mfa_enabled,
            email_verified=row.email_verified,
            pending_admin_approval=row.pending_admin_approval,
            created_at=row.created_at,
        )


@strawberry.type(description="A user in a connection, with the cursor to page from it.")
class UserEdge:
    cursor: str
    node: User


@strawberry.type(description="A page of users (Relay connection, keyset cursors).")
class UserConnection:
    edges: list[UserEdge]
    page_info: relay.PageInfo
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="The users of this page, without cursors.")
    def nodes(self) -> list[User]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many users match the filter (all pages).")
    async def total_count(self) -> int:
        return await self.count_total()


@strawberry.type(description="A numbered page of users (the seed's UsersListResponse).")
class UserPage:
    total_count: int
    page: int
    per_page: int
    page_count: int
    items: list[User]
