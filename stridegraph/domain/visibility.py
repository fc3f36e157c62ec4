"""Who sees which user, and who reads a user's private fields: the rules every look-up,
listing, photo and GraphQL type applies, in one place so they cannot drift apart.

- Seeing at all: anonymous viewers only while ``publicProfiles`` is on (checked where a read
  starts, ``users.require_reader``); then admins and the user themself see the account in
  any state, everyone else only listed ones (active and approved).
- Private fields (e-mail, birthdate, flags, preferences...): the user and admins only.
"""

from __future__ import annotations

from stridegraph.db.models import User
from stridegraph.domain.viewer import Viewer


def is_listed(user: User) -> bool:
    """Non-admins never see inactive or unapproved users."""
    return user.active and not user.pending_admin_approval


def may_see(viewer: Viewer | None, user: User) -> bool:
    """Whether ``viewer`` (allowed to read users at all) sees ``user``."""
    return may_read_private(viewer, user.id) or is_listed(user)


def may_read_private(viewer: Viewer | None, user_id: int) -> bool:
    """The viewer is this user or an administrator."""
    return viewer is not None and (viewer.is_admin or viewer.user_id == user_id)
