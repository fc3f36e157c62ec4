"""Scopes and which roles may hold them."""

from __future__ import annotations

from stridegraph.db.enums import AccessType

PROFILE_READ = "profile:read"
PROFILE_WRITE = "profile:write"
USERS_READ = "users:read"
USERS_WRITE = "users:write"

ALL_SCOPES: tuple[str, ...] = (PROFILE_READ, PROFILE_WRITE, USERS_READ, USERS_WRITE)

ROLE_SCOPES: dict[AccessType, frozenset[str]] = {
    AccessType.REGULAR: frozenset({PROFILE_READ, PROFILE_WRITE, USERS_READ}),
    AccessType.ADMIN: frozenset(ALL_SCOPES),
}


def scopes_for(access_type: AccessType) -> frozenset[str]:
    return ROLE_SCOPES[access_type]
