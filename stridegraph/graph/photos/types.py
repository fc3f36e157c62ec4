"""Payloads of the photo mutations."""

from __future__ import annotations

import strawberry

from stridegraph.graph.errors import Payload, outcome
from stridegraph.graph.users.types import User, UserMe


@strawberry.type(description="The viewer's record with the new photo, or the errors.")
class UploadMyPhotoPayload(Payload):
    user: UserMe | None = outcome("You, as you are now")


@strawberry.type(description="The viewer's record without a photo, or the errors.")
class DeleteMyPhotoPayload(Payload):
    user: UserMe | None = outcome("You, as you are now")


@strawberry.type(description="The user whose photo an administrator removed, or the errors.")
class DeleteUserPhotoPayload(Payload):
    user: User | None = outcome("The account as it is now")
