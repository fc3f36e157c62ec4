"""``serverSettings`` (public)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from stridegraph.domain import settings as settings_domain
from stridegraph.graph.errors import run_query
from stridegraph.graph.settings.types import ServerSettings


@strawberry.type
class SettingsQueries:
    @strawberry.field(description="Server-wide settings; readable by anyone.")
    async def server_settings(self, info: Info) -> ServerSettings:
        return ServerSettings.from_domain(await run_query(info, settings_domain.get_settings))
