"""Static assets under ``/static`` with content-versioned URLs.

A page links each asset as ``/static/<name>?v=<digest of its bytes>``; a request whose
``v`` is the file's current digest may be cached for a year (``immutable``), because a new
release of the file gets a new URL. Any other request for the file (no ``v``, or one from
an older release) is answered with ``no-cache``, so nothing stale sticks in a browser.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@functools.cache
def _digests(path: str) -> tuple[str, str]:
    """(version, SRI integrity) of a file; the package's files do not change while it runs."""
    data = Path(path).read_bytes()
    version = hashlib.sha256(data).hexdigest()[:16]
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    return version, integrity


def _path(name: str) -> str:
    return os.path.realpath(STATIC / name)


def asset_url(name: str) -> str:
    """The versioned URL of ``static/<name>``."""
    return f"/static/{name}?v={_digests(_path(name))[0]}"


def asset_integrity(name: str) -> str:
    """The Subresource Integrity value of ``static/<name>``."""
    return _digests(_path(name))[1]


class VersionedStaticFiles(StaticFiles):
    """Starlette's static files, with ``Cache-Control`` by URL version and ``nosniff``."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [])
        current = _digests(os.path.realpath(full_path))[0]
        response.headers["Cache-Control"] = IMMUTABLE if current in asked else REVALIDATE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
