"""Inputs of the user queries and mutations.

Optional input fields left out mean "keep"; an explicit null clears a nullable field (city,
birthdate, height, maxHeartRate) and is a REQUIRED error for the others.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import strawberry

from stridegraph.db.enums import AccessType as StoredAccessType
from stridegraph.domain import users as users_domain
from stridegraph.domain.profile_fields import FIELDS
from stridegraph.graph.enums import (
    AccessType,
    ActivityVisibility,
    Currency,
    Gender,
    Language,
    Units,
    WeekDay,
    described_enum,
)

UNSET: Any = strawberry.UNSET

UserOrderField = described_enum(
    users_domain.OrderField,
    name="UserOrderField",
    description="Sort keys of user listings; ties are broken by id.",
    values={
        "USERNAME": "By username.",
        "NAME": "By name.",
        "CREATED_AT": "By when the account was created.",
        "ACCESS_TYPE": "By role.",
    },
)


@strawberry.enum(description="Sort direction.")
class OrderDirection(enum.Enum):
    ASC = strawberry.enum_value("asc", description="Smallest first (A to Z, oldest first).")
    DESC = strawberry.enum_value("desc", description="Largest first (Z to A, newest first).")


@strawberry.input(description="Which users a listing holds. All conditions must match.")
class UserFilter:
    search: str | None = strawberry.field(
        default=None,
        description="Case-insensitive part of the username or name (and e-mail, for admins).",
    )
    access_type: AccessType | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Only users of this role."
    )
    active: bool | None = strawberry.field(default=None, description="Admins only.")
    email_verified: bool | None = strawberry.field(default=None, description="Admins only.")
    pending_admin_approval: bool | None = strawberry.field(default=None, description="Admins only.")

    def to_domain(self) -> users_domain.UserFilter:
        return users_domain.UserFilter(
            search=self.search,
            access_type=self.access_type,
            active=self.active,
            email_verified=self.email_verified,
            pending_admin_approval=self.pending_admin_approval,
        )


@strawberry.input(description="How a listing is sorted.")
class UserOrder:
    field: UserOrderField = strawberry.field(  # type: ignore[valid-type]
        description="The sort key."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description="ASC (the default) or DESC."
    )

    def to_domain(self) -> users_domain.UserOrder:
        return users_domain.UserOrder(
            field=self.field, descending=self.direction is OrderDirection.DESC
        )


def optional(name: str) -> Any:
    """An optional input field for the declared profile field ``name`` (left out: UNSET)."""
    return strawberry.field(default=UNSET, description=FIELDS[name].input_description())


def required(name: str) -> Any:
    """A required input field for the declared profile field ``name``."""
    return strawberry.field(description=FIELDS[name].description)


@strawberry.input(description="The profile details every account has besides its names.")
class ProfileDetailsInput:
    """Declared once for ``updateMe``, ``updateUser``, ``createUser`` and ``signUp``, so the
    four take the same fields with the same descriptions (``domain/profile_fields``)."""

    city: str | None = optional("city")
    birthdate: dt.date | None = optional("birthdate")
    preferred_language: Language | None = optional("preferred_language")  # type: ignore[valid-type]
    gender: Gender | None = optional("gender")  # type: ignore[valid-type]
    units: Units | None = optional("units")  # type: ignore[valid-type]
    height: int | None = optional("height")
    max_heart_rate: int | None = optional("max_heart_rate")
    first_day_of_week: WeekDay | None = optional("first_day_of_week")  # type: ignore[valid-type]
    currency: Currency | None = optional("currency")  # type: ignore[valid-type]


#: The names of the shared details (snake_case), for ``given``.
PROFILE_EXTRAS: tuple[str, ...] = tuple(ProfileDetailsInput.__dataclass_fields__)


@strawberry.input(description="Profile fields; leave a field out to keep it.")
class ProfileInput(ProfileDetailsInput):
    name: str | None = optional("name")
    username: str | None = optional("username")


@strawberry.input(description="Changes to the viewer's profile (e-mail: requestEmailChange).")
class UpdateMeInput(ProfileInput):
    pass


@strawberry.input(description="An administrator's changes to an account.")
class UpdateUserInput(ProfileInput):
    email: str | None = optional("email")
    access_type: AccessType | None = strawberry.field(  # type: ignore[valid-type]
        default=UNSET, description="The role: ADMIN or REGULAR."
    )
    active: bool | None = strawberry.field(
        default=UNSET,
        description="False deactivates the account and ends its sessions and API tokens.",
    )
    email_verified: bool | None = strawberry.field(
        default=UNSET,
        description="Vouch for the address (true) or ask for it to be proven again (false). "
        "With active: true, an unverified sign-up can sign in at once.",
    )


@strawberry.input(description="A new account made by an administrator.")
class CreateUserInput(ProfileDetailsInput):
    username: str = required("username")
    email: str = required("email")
    name: str = required("name")
    password: str | None = strawberry.field(
        default=None, description="Leave out to mail the user a link to set one."
    )
    access_type: AccessType = strawberry.field(  # type: ignore[valid-type]
        default=StoredAccessType.REGULAR, description="The role: ADMIN or REGULAR."
    )
    active: bool = strawberry.field(
        default=True, description="False creates the account deactivated."
    )


@strawberry.input(description="Changes to the viewer's privacy settings; leave out to keep.")
class PrivacySettingsInput:
    default_activity_visibility: ActivityVisibility | None = strawberry.field(  # type: ignore[valid-type]
        default=UNSET, description="Who sees a new activity unless it says otherwise."
    )
    hide_activity_start_time: bool | None = strawberry.field(
        default=UNSET, description="Hide the start time of your activities from others."
    )
    hide_activity_location: bool | None = strawberry.field(
        default=UNSET, description="Hide the location of your activities from others."
    )
    hide_activity_map: bool | None = strawberry.field(
        default=UNSET, description="Hide the map of your activities from others."
    )
    hide_activity_hr: bool | None = strawberry.field(
        default=UNSET, description="Hide the heart rate of your activities from others."
    )
    hide_activity_power: bool | None = strawberry.field(
        default=UNSET, description="Hide the power of your activities from others."
    )
    hide_activity_cadence: bool | None = strawberry.field(
        default=UNSET, description="Hide the cadence of your activities from others."
    )
    hide_activity_elevation: bool | None = strawberry.field(
        default=UNSET, description="Hide the elevation of your activities from others."
    )
    hide_activity_speed: bool | None = strawberry.field(
        default=UNSET, description="Hide the speed of your activities from others."
    )
    hide_activity_pace: bool | None = strawberry.field(
        default=UNSET, description="Hide the pace of your activities from others."
    )
    hide_activity_laps: bool | None = strawberry.field(
        default=UNSET, description="Hide the laps of your activities from others."
    )
    hide_activity_workout_sets_steps: bool | None = strawberry.field(
        default=UNSET, description="Hide the workout sets and steps of your activities from others."
    )
    hide_activity_gear: bool | None = strawberry.field(
        default=UNSET, description="Hide the gear of your activities from others."
    )


def given(value: object, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The fields of an input object the client actually sent (snake_case keys)."""
    fields = names or tuple(value.__dataclass_fields__)  # type: ignore[attr-defined]
    return {
        name: getattr(value, name) for name in fields if getattr(value, name, UNSET) is not UNSET
    }
