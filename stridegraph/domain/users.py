"""Reading user records, and who may see which."""

from __future__ import annotations

from collections.abc import Sequence

from stridegraph.db import settings as settings_rows
from stridegraph.db import users as user_rows
from stridegraph.db.models import User
from stridegraph.domain.errors import Unauthenticated
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer


def is_listed(user: User) -> bool:
    """Non-admins never see inactive or unapproved users."""
    return user.active and not user.pending_admin_approval


def can_see(viewer: Viewer | None, user: User, *, public_profiles: bool) -> bool:
    """Whether ``viewer`` may see ``user`` at all (private fields are a separate rule)."""
    if viewer is not None and (viewer.is_admin or viewer.user_id == user.id):
        return True
    if viewer is None and not public_profiles:
        return False
    return is_listed(user)


async def anonymous_allowed(unit: Unit, viewer: Viewer | None) -> bool:
    """Anonymous reads need the ``publicProfiles`` setting (the seed's public_check)."""
    if viewer is not None:
        return True
    return (await settings_rows.get(unit.session)).public_profiles


async def visible_by_ids(
    unit: Unit, *, viewer: Viewer | None, ids: Sequence[int]
) -> dict[int, User]:
    """The users among ``ids`` the viewer may see, keyed by id (others are simply absent)."""
    public = (await settings_rows.get(unit.session)).public_profiles if viewer is None else True
    found = await user_rows.get_many(unit.session, ids)
    return {i: u for i, u in found.items() if can_see(viewer, u, public_profiles=public)}


async def get_me(unit: Unit, *, viewer: Viewer | None) -> User:
    if viewer is None:
        raise Unauthenticated("You must be signed in.")
    return viewer.user
