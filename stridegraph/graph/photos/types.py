"""Payloads of the photo mutations."""

from __future__ import annotations

import strawberry

from stridegraph.graph.errors import UserError
from stridegraph.graph.users.types import User, UserMe


@strawberry.type(description="The viewer's record with the new photo, or the errors.")
class UploadMyPhotoPayload:
    user: UserMe | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The viewer's record without a photo, or the errors.")
class DeleteMyPhotoPayload:
    user: UserMe | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The user whose photo an administrator removed, or the errors.")
class DeleteUserPhotoPayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
