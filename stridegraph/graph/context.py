"""Per-request context: the unit of work, the viewer, DataLoaders and request facts."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from stridegraph.domain.errors import Unauthenticated
from stridegraph.domain.unit import Origin, Services, Unit
from stridegraph.domain.viewer import Viewer, resolve_bearer
from stridegraph.graph.loaders import Loaders
from stridegraph.graph.permissions import unauthenticated


@dataclass
class Context:
    request: Request
    response: Response | None
    unit: Unit
    request_id: str
    client_address: str
    viewer: Viewer | None = None
    auth_failure: str | None = None  # "UNAUTHENTICATED" or "SERVICE_UNAVAILABLE"
    auth_reason: str | None = None  # with UNAUTHENTICATED: TOKEN_EXPIRED or TOKEN_INVALID
    bearer: str | None = None  # the token ``viewer`` came from, to re-read it per mutation
    _loaders: Loaders | None = field(default=None, init=False, repr=False)
    mutations_begun: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._use(self.unit)

    def _use(self, unit: Unit) -> None:
        self.unit = unit
        # a context built without a request (tests of the plumbing) has no user agent
        agent = self.user_agent if self.request is not None else None
        unit.origin = Origin(client_address=self.client_address, user_agent=agent)
        self._loaders = None

    @property
    def loaders(self) -> Loaders:
        """The unit's DataLoaders, built on first use: most requests (``me``, a listing
        without photos or privacy settings) never load through one, and building four
        per request was a measurable share of a small query's CPU."""
        if self._loaders is None:
            self._loaders = Loaders(self.unit)
        return self._loaders

    async def begin_mutation(self) -> None:
        """Give the next root mutation a unit of its own, with the viewer read afresh
        (see ``graph.units``); the first keeps the request's."""
        self.mutations_begun += 1
        if self.mutations_begun == 1:
            return
        await self.unit.close()
        self._use(Unit(services=self.services))
        if self.bearer is None:
            return
        try:
            self.viewer = await resolve_bearer(self.unit, token=self.bearer)
            await self.unit.release()
        except Unauthenticated as exc:
            self.viewer = None
            raise unauthenticated(str(exc), exc.reason) from None

    async def close(self) -> None:
        """End the request's unit of work (never raises; see :meth:`Unit.close`)."""
        await self.unit.close()

    @property
    def services(self) -> Services:
        return self.unit.services

    @property
    def user_agent(self) -> str | None:
        return self.request.headers.get("user-agent")
