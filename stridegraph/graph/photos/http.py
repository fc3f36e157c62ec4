"""``GET /photos/{userId}``: a user's photo for whoever may see that user.

``userId`` is the ``User`` global id (as in ``user(id:)``), the plain integer id that
``photoUrl`` uses, or the username (as ``userByUsername``, case-insensitive; a segment that
reads as an id is an id, so a username made of digits alone is reached by its id). Credentials are the same bearer tokens as ``/graphql``; a bad token is 401,
never a silent downgrade to anonymous. An unknown user, a user the viewer may not see and a
user without a photo are all the same 404 (no enumeration). The strong ETag is the file's
sha256, so a matching ``If-None-Match`` is answered with 304 without touching the disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from stridegraph.domain import photos
from stridegraph.domain.errors import Unauthenticated
from stridegraph.domain.unit import Services, Unit, open_unit
from stridegraph.domain.viewer import Viewer, resolve_bearer
from stridegraph.graph.bearer import bearer_token
from stridegraph.graph.extensions import database_down
from stridegraph.graph.ids import parse_global_id, parse_row_id

log = logging.getLogger("stridegraph.photos")

MAX_AGE_SECONDS = 300
_BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Vary": "Authorization",
}


def user_id_from_path(raw: str) -> int | None:
    """The integer id from a path segment holding either the integer or the global id, each
    only in its canonical spelling (``graph.ids``)."""
    return parse_row_id(raw) or parse_global_id(raw, "User")


def etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison, a list of tags, or ``*``."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = (tag.strip().removeprefix("W/") for tag in header.split(","))
    return etag in tags


def _plain(status: int, text: str, **headers: str) -> Response:
    return PlainTextResponse(text, status_code=status, headers={**_BASE_HEADERS, **headers})


async def _resolve(unit: Unit, *, header: str | None) -> Viewer | None:
    """The viewer from an Authorization header, None without one (anonymous)."""
    token = bearer_token(header)
    return None if token is None else await resolve_bearer(unit, token=token)


async def _find(services: Services, request: Request, segment: str) -> photos.StoredPhoto | None:
    user_id = user_id_from_path(segment)
    named = {"user_id": user_id} if user_id is not None else {"username": segment}
    async with open_unit(services) as unit:
        viewer = await _resolve(unit, header=request.headers.get("authorization"))
        return await unit.run(photos.photo_for_viewer, viewer=viewer, **named)


def photo_endpoint(services: Services) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint, bound to the app's services."""

    async def endpoint(request: Request) -> Response:
        segment = request.path_params["user_id"]
        try:
            photo = await _find(services, request, segment)
        except Unauthenticated:
            return _plain(
                401,
                "The token is invalid, expired or revoked.",
                **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        except Exception as exc:
            if not database_down(exc):
                raise
            return _plain(503, "The service is temporarily unavailable.", **{"Retry-After": "5"})
        if photo is None:
            return _plain(404, "Not found")
        headers = {
            **_BASE_HEADERS,
            "ETag": photo.etag,
            "Cache-Control": f"{'public' if photo.public else 'private'}, max-age={MAX_AGE_SECONDS}",
        }
        if etag_matches(request.headers.get("if-none-match"), photo.etag):
            return Response(status_code=304, headers=headers)
        try:
            data = await asyncio.to_thread(photo.path.read_bytes)
        except FileNotFoundError:
            log.warning("photo file missing", extra={"user": segment})
            return _plain(404, "Not found")
        return Response(data, media_type=photo.content_type, headers=headers)

    return endpoint
