"""``GET /exports/{id}``: a data export's ZIP, for its owner only.

``id`` is the ``DataExport`` global id or its plain integer id (``downloadUrl`` uses the
integer). Credentials are the bearer tokens of ``/graphql`` (a session, or an API token with
``profile:read``); a bad token is 401. Another user's export, an unknown one, one still being
made and an expired one are the same 404. The archive is never cached by anyone in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from stridegraph.domain import export as export_domain
from stridegraph.domain.errors import Forbidden, Unauthenticated
from stridegraph.domain.unit import Services, open_unit
from stridegraph.domain.viewer import resolve_bearer
from stridegraph.graph.extensions import database_down
from stridegraph.graph.ids import parse_global_id, parse_row_id

_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Vary": "Authorization",
}


def _plain(status: int, text: str, **headers: str) -> Response:
    return PlainTextResponse(text, status_code=status, headers={**_HEADERS, **headers})


def export_id_from_path(raw: str) -> int | None:
    return parse_row_id(raw) or parse_global_id(raw, "DataExport")


def export_endpoint(services: Services) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint, bound to the app's services."""

    async def endpoint(request: Request) -> Response:
        export_id = export_id_from_path(request.path_params["export_id"])
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _plain(401, "Sign in to download your export.", **{"WWW-Authenticate": "Bearer"})
        try:
            async with open_unit(services) as unit:
                viewer = await resolve_bearer(unit, token=token.strip())
                path = (
                    await unit.run(export_domain.file_for_owner, viewer=viewer, export_id=export_id)
                    if export_id is not None
                    else None
                )
        except Unauthenticated:
            return _plain(
                401,
                "The token is invalid, expired or revoked.",
                **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        except Forbidden:
            return _plain(403, "This needs the profile:read scope.")
        except Exception as exc:
            if not database_down(exc):
                raise
            return _plain(503, "The service is temporarily unavailable.", **{"Retry-After": "5"})
        if path is None or not await asyncio.to_thread(path.is_file):
            return _plain(404, "Not found")
        return FileResponse(
            path,
            media_type="application/zip",
            filename=f"stridegraph-export-{export_id}.zip",
            headers=_HEADERS,
        )

    return endpoint
