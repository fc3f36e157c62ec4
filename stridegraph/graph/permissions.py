"""Permission classes. Operation-level checks raise UNAUTHENTICATED / FORBIDDEN errors; the
field-level check on private user fields fails silently (the field resolves to null).

Compose per field with :func:`requires`, e.g. ``requires(scope=PROFILE_READ)`` or
``requires(scope=USERS_WRITE, admin=True)``.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from stridegraph.domain.access import require
from stridegraph.domain.errors import Forbidden, Unauthenticated
from stridegraph.domain.viewer import Viewer


def unauthenticated(
    message: str = "You must be signed in.", reason: str | None = None
) -> GraphQLError:
    """UNAUTHENTICATED; ``reason`` (TOKEN_EXPIRED / TOKEN_INVALID) when a token was bad."""
    extensions = {"code": "UNAUTHENTICATED"}
    if reason is not None:
        extensions["reason"] = reason
    return GraphQLError(message, extensions=extensions)


def forbidden(message: str = "You are not allowed to do this.") -> GraphQLError:
    return GraphQLError(message, extensions={"code": "FORBIDDEN"})


def viewer_of(info: Info) -> Viewer | None:
    return info.context.viewer


class Required(BasePermission):
    """The domain's rule (:func:`stridegraph.domain.access.require`) before the resolver
    runs: UNAUTHENTICATED without a viewer, FORBIDDEN without the role or scope."""

    def __init__(self, *, scope: str | None = None, admin: bool = False) -> None:
        self.scope = scope
        self.admin = admin

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        try:
            require(viewer_of(info), scope=self.scope, admin=self.admin)
        except Unauthenticated as exc:
            raise unauthenticated(str(exc)) from None
        except Forbidden as exc:
            raise forbidden(str(exc)) from None
        return True


class SignedIn(Required):
    """A valid viewer is present (else UNAUTHENTICATED)."""

    def __init__(self) -> None:
        super().__init__()


class HasScope(Required):
    """The viewer's credential holds ``scope`` (else UNAUTHENTICATED / FORBIDDEN)."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope=scope)


class IsAdmin(Required):
    """The viewer is an administrator (else UNAUTHENTICATED / FORBIDDEN)."""

    def __init__(self) -> None:
        super().__init__(admin=True)


class ScopeOrAnonymous(BasePermission):
    """Anonymous viewers pass (the resolver applies the public-profiles rule); signed-in
    viewers need ``scope``."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        viewer = viewer_of(info)
        if viewer is not None and not viewer.has(self.scope):
            raise forbidden(f"This needs the {self.scope} scope.")
        return True


def requires(*, scope: str | None = None, admin: bool = False) -> PermissionExtension:
    """The field extension for an operation: signed in, plus a scope and/or the admin role."""
    return PermissionExtension(
        permissions=[Required(scope=scope, admin=admin)], use_directives=False
    )


def scope_or_anonymous(scope: str) -> PermissionExtension:
    return PermissionExtension(permissions=[ScopeOrAnonymous(scope)], use_directives=False)
