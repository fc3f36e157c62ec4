"""Per-request DataLoaders, so a request costs a bounded number of SQL statements however many
users it lists. Built fresh in each request's context (never shared across requests)."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from stridegraph.db import users as user_rows
from stridegraph.db.models import Integrations, PrivacySettings, User
from stridegraph.domain.unit import Unit


class Loaders:
    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.user_by_id: DataLoader[int, User | None] = DataLoader(self._users)
        self.privacy_by_user: DataLoader[int, PrivacySettings | None] = DataLoader(self._privacy)
        self.integrations_by_user: DataLoader[int, Integrations | None] = DataLoader(
            self._integrations
        )
        self.external_auth_count: DataLoader[int, int] = DataLoader(self._external_auth_counts)

    async def _users(self, ids: Sequence[int]) -> list[User | None]:
        async with self.unit.locked() as session:
            found = await user_rows.get_many(session, ids)
        return [found.get(i) for i in ids]

    async def _privacy(self, ids: Sequence[int]) -> list[PrivacySettings | None]:
        async with self.unit.locked() as session:
            found = await user_rows.privacy_for(session, ids)
        return [found.get(i) for i in ids]

    async def _integrations(self, ids: Sequence[int]) -> list[Integrations | None]:
        async with self.unit.locked() as session:
            found = await user_rows.integrations_for(session, ids)
        return [found.get(i) for i in ids]

    async def _external_auth_counts(self, ids: Sequence[int]) -> list[int]:
        async with self.unit.locked() as session:
            found = await user_rows.external_auth_counts(session, ids)
        return [found.get(i, 0) for i in ids]

    def prime_users(self, users: Sequence[User]) -> None:
        for user in users:
            self.user_by_id.prime(user.id, user)
