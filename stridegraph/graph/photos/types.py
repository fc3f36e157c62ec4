"""Payloads of the photo mutations."""

from __future__ import annotations

import strawberry

from stridegraph.graph.errors import Payload
from stridegraph.graph.users.types import User, UserMe


@strawberry.type(description="The viewer's record with the new photo, or the errors.")
class UploadMyPhotoPayload(Payload):
    user: UserMe | None = strawberry.field(
        default=None, description="You, as you are now; null if the mutation refused."
    )


@strawberry.type(description="The viewer's record without a photo, or the errors.")
class DeleteMyPhotoPayload(Payload):
    user: UserMe | None = strawberry.field(
        default=None, description="You, as you are now; null if the mutation refused."
    )


@strawberry.type(description="The user whose photo an administrator removed, or the errors.")
class DeleteUserPhotoPayload(Payload):
    user: User | None = strawberry.field(
        default=None, description="The account as it is now; null if the mutation refused."
    )
