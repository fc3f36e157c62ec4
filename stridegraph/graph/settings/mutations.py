"""``updateServerSettings`` (ADMIN and ``users:write``)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from stridegraph.domain import settings as settings_domain
from stridegraph.domain.scopes import USERS_WRITE
from stridegraph.domain.settings import EffectiveSettings
from stridegraph.graph.arguments import CHANGES
from stridegraph.graph.enums import PasswordPolicy
from stridegraph.graph.errors import Payload, outcome, run_mutation
from stridegraph.graph.permissions import requires
from stridegraph.graph.settings.types import ServerSettings

UNSET: Any = strawberry.UNSET


@strawberry.input(description="Changes to the server settings; leave a field out to keep it.")
class ServerSettingsInput:
    signup_enabled: bool | None = strawberry.field(
        default=UNSET, description="Open or close signUp."
    )
    signup_require_email_verification: bool | None = strawberry.field(
        default=UNSET,
        description="Whether a new account must prove its address (only while mail is enabled).",
    )
    signup_require_admin_approval: bool | None = strawberry.field(
        default=UNSET, description="Whether a new account waits for an administrator."
    )
    public_profiles: bool | None = strawberry.field(
        default=UNSET,
        description="Whether anonymous clients may read public fields of active users.",
    )
    password_policy: PasswordPolicy | None = strawberry.field(  # type: ignore[valid-type]
        default=UNSET, description="LENGTH_ONLY or STRICT."
    )
    password_min_length_regular: int | None = strawberry.field(default=UNSET, description="8-128.")
    password_min_length_admin: int | None = strawberry.field(default=UNSET, description="8-128.")


@strawberry.type(description="The server settings after the change, or the errors.")
class UpdateServerSettingsPayload(Payload):
    server_settings: ServerSettings | None = outcome("The settings as they are now")


@strawberry.type
class SettingsMutations:
    @strawberry.mutation(
        description="Change server-wide settings (admins).",
        extensions=[requires(scope=USERS_WRITE, admin=True)],
    )
    async def update_server_settings(
        self, info: Info, input: Annotated[ServerSettingsInput, CHANGES]
    ) -> UpdateServerSettingsPayload:
        def done(result: EffectiveSettings) -> UpdateServerSettingsPayload:
            return UpdateServerSettingsPayload(server_settings=ServerSettings.from_domain(result))

        changes = {
            name: getattr(input, name)
            for name in ServerSettingsInput.__dataclass_fields__
            if getattr(input, name) is not UNSET
        }
        return await run_mutation(
            info,
            settings_domain.update_server_settings,
            done,
            UpdateServerSettingsPayload,
            changes=changes,
        )
