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


class SignedIn(BasePermission):
    """A valid viewer is present (else UNAUTHENTICATED)."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if viewer_of(info) is None:
            raise unauthenticated()
        return True


class HasScope(BasePermission):
    """The viewer's credential holds ``scope`` (else UNAUTHENTICATED / FORBIDDEN)."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        viewer = viewer_of(info)
        if viewer is None:
            raise unauthenticated()
        if not viewer.has(self.scope):
            raise forbidden(f"This needs the {self.scope} scope.")
        return True


class IsAdmin(BasePermission):
    """The viewer is an administrator (else UNAUTHENTICATED / FORBIDDEN)."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        viewer = viewer_of(info)
        if viewer is None:
            raise unauthenticated()
        if not viewer.is_admin:
            raise forbidden("This needs an administrator.")
        return True


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
    permissions: list[BasePermission] = [SignedIn()]
    if admin:
        permissions.append(IsAdmin())
    if scope:
        permissions.append(HasScope(scope))
    return PermissionExtension(permissions=permissions, use_directives=False)


def scope_or_anonymous(scope: str) -> PermissionExtension:
    return PermissionExtension(permissions=[ScopeOrAnonymous(scope)], use_directives=False)
