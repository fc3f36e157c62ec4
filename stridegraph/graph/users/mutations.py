"""Profile mutations (``profile:write``) and admin mutations on accounts (ADMIN and
``users:write``). Each runs one domain function as the request's transaction; any problem is
a payload error and nothing changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import strawberry
from strawberry import relay
from strawberry.extensions.field_extension import FieldExtension
from strawberry.types import Info

from stridegraph.db.models import PrivacySettings as PrivacyRow
from stridegraph.db.models import User as UserRow
from stridegraph.domain import admin as admin_domain
from stridegraph.domain import profile as profile_domain
from stridegraph.domain.scopes import PROFILE_WRITE, USERS_WRITE
from stridegraph.graph.arguments import (
    CHANGES,
    NEW,
    CurrentPassword,
    NewPassword,
    OptionalCode,
    UserId,
    proof,
)
from stridegraph.graph.errors import Payload, outcome, run_mutation
from stridegraph.graph.permissions import requires
from stridegraph.graph.user_admin import on_user, revoked
from stridegraph.graph.users.inputs import (
    PROFILE_EXTRAS,
    CreateUserInput,
    PrivacySettingsInput,
    UpdateMeInput,
    UpdateUserInput,
    given,
)
from stridegraph.graph.users.types import PrivacySettings, User, UserMe

PROFILE: list[FieldExtension] = [requires(scope=PROFILE_WRITE)]
ADMIN: list[FieldExtension] = [requires(scope=USERS_WRITE, admin=True)]


@strawberry.type(description="You, with the changes, or the errors.")
class UpdateMePayload(Payload):
    user: UserMe | None = outcome("You, as you are now")


@strawberry.type(description="Your privacy settings after the change, or the errors.")
class UpdatePrivacySettingsPayload(Payload):
    privacy_settings: PrivacySettings | None = outcome("Your privacy settings as they are now")


@strawberry.type
class DeletedPayload(Payload):
    """The global id of the account that is gone."""

    deleted_user_id: strawberry.ID | None = outcome("The deleted account's id")


@strawberry.type(description="The id of your deleted account, or the errors.")
class DeleteMePayload(DeletedPayload):
    pass


@strawberry.type(description="The id of the deleted account, or the errors.")
class DeleteUserPayload(DeletedPayload):
    pass


@strawberry.type
class UserPayload(Payload):
    """The account the mutation changed (or created)."""

    user: User | None = outcome("The account as it is now")


@strawberry.type(description="The new account, or the errors.")
class CreateUserPayload(UserPayload):
    pass


@strawberry.type(description="The account after the change, or the errors.")
class UpdateUserPayload(UserPayload):
    pass


@strawberry.type(
    description="The account with its new password (its sessions and API tokens ended), or the errors."
)
class SetUserPasswordPayload(UserPayload):
    pass


@strawberry.type(description="The approved account, or the errors.")
class ApproveUserPayload(UserPayload):
    pass


@strawberry.type(description="How many API tokens of the user ended, or the errors.")
class RevokeUserApiTokensPayload(Payload):
    revoked_count: int = strawberry.field(default=0, description="How many API tokens ended.")


P = TypeVar("P", bound=UserPayload)
D = TypeVar("D", bound=DeletedPayload)


def _user_payload(info: Info, cls: type[P]) -> Callable[[UserRow], P]:
    return lambda row: cls(user=User.of(row, info.context))


def _deleted(cls: type[D]) -> Callable[[int], D]:
    return lambda user_id: cls(deleted_user_id=strawberry.ID(relay.to_base64("User", user_id)))


@strawberry.type
class UserMutations:
    @strawberry.mutation(description="Change your own profile.", extensions=PROFILE)
    async def update_me(
        self, info: Info, input: Annotated[UpdateMeInput, CHANGES]
    ) -> UpdateMePayload:

        def done(row: UserRow) -> UpdateMePayload:
            return UpdateMePayload(user=UserMe.of(row, info.context))

        return await run_mutation(
            info,
            profile_domain.update_me,
            done,
            UpdateMePayload,
            changes=given(input),
        )

    @strawberry.mutation(description="Change your privacy settings.", extensions=PROFILE)
    async def update_privacy_settings(
        self, info: Info, input: Annotated[PrivacySettingsInput, CHANGES]
    ) -> UpdatePrivacySettingsPayload:
        def done(row: PrivacyRow) -> UpdatePrivacySettingsPayload:
            return UpdatePrivacySettingsPayload(privacy_settings=PrivacySettings.from_row(row))

        return await run_mutation(
            info,
            profile_domain.update_privacy_settings,
            done,
            UpdatePrivacySettingsPayload,
            changes=given(input),
        )

    @strawberry.mutation(
        description="Delete your account and everything it owns; needs your password (and "
        "a code from your authenticator, when given, must be right too).",
        extensions=PROFILE,
    )
    async def delete_me(
        self,
        info: Info,
        password: CurrentPassword,
        code: OptionalCode = None,
    ) -> DeleteMePayload:
        return await run_mutation(
            info,
            profile_domain.delete_me,
            _deleted(DeleteMePayload),
            DeleteMePayload,
            proof=proof(info, password, code),
        )

    @strawberry.mutation(
        description="Create an account (admins). Without a password the user is mailed a "
        "link to set one.",
        extensions=ADMIN,
    )
    async def create_user(
        self, info: Info, input: Annotated[CreateUserInput, NEW]
    ) -> CreateUserPayload:
        return await run_mutation(
            info,
            admin_domain.create_user,
            _user_payload(info, CreateUserPayload),
            CreateUserPayload,
            username=input.username,
            email=input.email,
            name=input.name,
            password=input.password,
            access_type=input.access_type,
            active=input.active,
            profile=given(input, PROFILE_EXTRAS),
        )

    @strawberry.mutation(
        description="Change an account's profile, e-mail, role or active flag (admins).",
        extensions=ADMIN,
    )
    async def update_user(
        self, info: Info, id: UserId, input: Annotated[UpdateUserInput, CHANGES]
    ) -> UpdateUserPayload:
        return await on_user(
            info,
            id,
            admin_domain.update_user,
            _user_payload(info, UpdateUserPayload),
            UpdateUserPayload,
            changes=given(input),
        )

    @strawberry.mutation(
        description="Set another user's password and end their sessions (admins).",
        extensions=ADMIN,
    )
    async def set_user_password(
        self, info: Info, id: UserId, password: NewPassword
    ) -> SetUserPasswordPayload:
        return await on_user(
            info,
            id,
            admin_domain.set_user_password,
            _user_payload(info, SetUserPasswordPayload),
            SetUserPasswordPayload,
            password=password,
        )

    @strawberry.mutation(description="Approve an account waiting for an admin.", extensions=ADMIN)
    async def approve_user(self, info: Info, id: UserId) -> ApproveUserPayload:
        return await on_user(
            info,
            id,
            admin_domain.approve_user,
            _user_payload(info, ApproveUserPayload),
            ApproveUserPayload,
        )

    @strawberry.mutation(
        description="Delete an account and everything it owns (admins).", extensions=ADMIN
    )
    async def delete_user(self, info: Info, id: UserId) -> DeleteUserPayload:
        return await on_user(
            info,
            id,
            admin_domain.delete_user,
            _deleted(DeleteUserPayload),
            DeleteUserPayload,
        )

    @strawberry.mutation(
        description="End every API token of a user; their sessions stay (admins).",
        extensions=ADMIN,
    )
    async def revoke_user_api_tokens(self, info: Info, id: UserId) -> RevokeUserApiTokensPayload:
        return await on_user(
            info,
            id,
            admin_domain.revoke_user_api_tokens,
            revoked(RevokeUserApiTokensPayload),
            RevokeUserApiTokensPayload,
        )
