"""Per-request context: the unit of work, the viewer, DataLoaders and request facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from stridegraph.domain.unit import Services, Unit
from stridegraph.domain.viewer import Viewer

if TYPE_CHECKING:
    from stridegraph.graph.loaders import Loaders


@dataclass
class Context:
    request: Request
    response: Response | None
    unit: Unit
    request_id: str
    client_address: str
    viewer: Viewer | None = None
    auth_failure: str | None = None  # "UNAUTHENTICATED" or "SERVICE_UNAVAILABLE"
    loaders: Loaders = field(init=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from stridegraph.graph.loaders import Loaders

        self.loaders = Loaders(self.unit)

    async def close(self) -> None:
        """End the request's unit of work (never raises; see :meth:`Unit.close`)."""
        await self.unit.close()

    @property
    def services(self) -> Services:
        return self.unit.services

    @property
    def user_agent(self) -> str | None:
        return self.request.headers.get("user-agent")
