"""Photo mutations: ``uploadMyPhoto``, ``deleteMyPhoto`` and the admin ``deleteUserPhoto``."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload
from strawberry.types import Info

from stridegraph.domain import photos
from stridegraph.domain.scopes import PROFILE_WRITE, USERS_WRITE
from stridegraph.graph.arguments import UserId
from stridegraph.graph.errors import run_mutation
from stridegraph.graph.permissions import requires
from stridegraph.graph.photos.types import (
    DeleteMyPhotoPayload,
    DeleteUserPhotoPayload,
    UploadMyPhotoPayload,
)
from stridegraph.graph.user_admin import on_user
from stridegraph.graph.users.types import User, UserMe


def _upload(value: Any) -> UploadFile | None:
    """The ``Upload`` scalar accepts any JSON value; only a real multipart file counts."""
    return value if isinstance(value, UploadFile) else None


@strawberry.type
class PhotoMutations:
    @strawberry.mutation(
        description="Replace your photo. Send a JPEG, PNG or WebP per the GraphQL multipart "
        "request spec (with an Apollo-Require-Preflight header); it is stored re-encoded, "
        "at most 512 px, without metadata.",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def upload_my_photo(
        self,
        info: Info,
        file: Annotated[
            Upload, strawberry.argument(description="The image file (JPEG, PNG or WebP).")
        ],
    ) -> UploadMyPhotoPayload:
        return await run_mutation(
            info,
            photos.upload_my_photo,
            lambda row: UploadMyPhotoPayload(user=UserMe.of(row, info.context)),
            UploadMyPhotoPayload,
            file=_upload(file),
        )

    @strawberry.mutation(
        description="Remove your photo (succeeds when there is none).",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def delete_my_photo(self, info: Info) -> DeleteMyPhotoPayload:
        return await run_mutation(
            info,
            photos.delete_my_photo,
            lambda row: DeleteMyPhotoPayload(user=UserMe.of(row, info.context)),
            DeleteMyPhotoPayload,
        )

    @strawberry.mutation(
        description="Remove a user's photo (administrators).",
        extensions=[requires(scope=USERS_WRITE, admin=True)],
    )
    async def delete_user_photo(self, info: Info, id: UserId) -> DeleteUserPhotoPayload:
        return await on_user(
            info,
            id,
            photos.delete_user_photo,
            lambda row: DeleteUserPhotoPayload(user=User.of(row, info.context)),
            DeleteUserPhotoPayload,
        )
