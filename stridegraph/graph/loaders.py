"""Per-request DataLoaders, so a request costs a bounded number of SQL statements however many
users it lists. Built fresh in each request's context (never shared across requests)."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from stridegraph.db import users as user_rows
from stridegraph.db.models import Integrations, PrivacySettings, User
from stridegraph.domain import users as users_domain
from stridegraph.domain.errors import Forbidden, Unauthenticated
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer
from stridegraph.graph.permissions import forbidden, unauthenticated


class Loaders:
    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.privacy_by_user: DataLoader[int, PrivacySettings | None] = DataLoader(self._privacy)
        self.integrations_by_user: DataLoader[int, Integrations | None] = DataLoader(
            self._integrations
        )
        self.external_auth_count: DataLoader[int, int] = DataLoader(self._external_auth_counts)
        self._visible_users: DataLoader[int, User | None] | None = None

    def visible_users(self, viewer: Viewer | None) -> DataLoader[int, User | None]:
        """Users ``viewer`` may see (``user(id:)``, ``node``, ``_entities``), null otherwise.
        The viewer is fixed for a request, so one loader per request serves them all."""
        if self._visible_users is None:

            async def load(ids: Sequence[int]) -> list[User | None]:
                try:
                    found = await self.unit.run(users_domain.users_by_ids, viewer=viewer, ids=ids)
                except Unauthenticated as exc:
                    raise unauthenticated(str(exc), exc.reason) from None
                except Forbidden as exc:
                    raise forbidden(str(exc)) from None
                return [found.get(i) for i in ids]

            self._visible_users = DataLoader(load)
        return self._visible_users

    async def _privacy(self, ids: Sequence[int]) -> list[PrivacySettings | None]:
        found = await self.unit.with_session(user_rows.privacy_for, ids)
        return [found.get(i) for i in ids]

    async def _integrations(self, ids: Sequence[int]) -> list[Integrations | None]:
        found = await self.unit.with_session(user_rows.integrations_for, ids)
        return [found.get(i) for i in ids]

    async def _external_auth_counts(self, ids: Sequence[int]) -> list[int]:
        found = await self.unit.with_session(user_rows.external_auth_counts, ids)
        return [found.get(i, 0) for i in ids]
