"""The one rule for who may run an operation: signed in, holding a scope, being an admin.

Graph's permission classes (``graph/permissions.py``) call :func:`require` before a resolver
runs, and domain functions call it again on entry: a domain function is also reached from
the CLI, tests and other domain functions, so it never trusts that graph checked. One
function keeps the two answers (and their messages) the same.
"""

from __future__ import annotations

from stridegraph.domain.errors import Forbidden, Unauthenticated
from stridegraph.domain.viewer import Viewer


def require(viewer: Viewer | None, *, scope: str | None = None, admin: bool = False) -> Viewer:
    """The viewer, if signed in (else :class:`Unauthenticated`), an administrator when
    ``admin`` and holding ``scope`` when given (else :class:`Forbidden`)."""
    if viewer is None:
        raise Unauthenticated("You must be signed in.")
    if admin and not viewer.is_admin:
        raise Forbidden("This needs an administrator.")
    if scope is not None and not viewer.has(scope):
        raise Forbidden(f"This needs the {scope} scope.")
    return viewer
