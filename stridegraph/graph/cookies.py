"""Browser sessions: the refresh token in a cookie instead of the payload, so a single-page
app keeps no long-lived secret where JavaScript can read it.

The cookie is ``HttpOnly``, ``SameSite=Strict``, scoped to ``Path=/graphql`` and ``Secure``
except on a loopback host (a developer's plain-HTTP ``localhost``). When a request relies on
it (``refreshSession`` or ``logout`` without a token argument), it must also carry a header
that forces a CORS preflight, as multipart uploads must (Apollo's CSRF prevention): a
cross-site page cannot send one without the server's CORS consent. The domain never sees
HTTP: this module reads and writes the cookie around the domain calls.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from starlette.datastructures import Headers
from strawberry.types import Info

NAME = "stridegraph_refresh"
PATH = "/graphql"
PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name")
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


def forces_preflight(headers: Headers) -> bool:
    """Whether the request carries a non-empty header a browser only sends after a CORS
    preflight (shared with the multipart check in ``app.py``)."""
    return any(headers.get(name, "").strip() for name in PREFLIGHT_HEADERS)


def wanted(info: Info, requested: bool | None) -> bool:
    """The login's choice, else the server's ``REFRESH_COOKIE`` setting."""
    if requested is not None:
        return requested
    return bool(info.context.services.settings.refresh_cookie)


def _secure(info: Info) -> bool:
    host = (info.context.request.url.hostname or "").lower()
    return not (host in _LOOPBACK or host.endswith(".localhost"))


def _attributes(info: Info) -> dict[str, Any]:
    return {"path": PATH, "secure": _secure(info), "httponly": True, "samesite": "strict"}


def deliver(info: Info, payload: Any, in_cookie: bool) -> Any:
    """Move ``payload.refresh_token`` into the cookie (lifetime: the token's) when asked."""
    if not in_cookie or not payload.refresh_token:
        return payload
    max_age = int((payload.refresh_expires_at - info.context.services.now()).total_seconds())
    info.context.response.set_cookie(
        NAME, payload.refresh_token, max_age=max(max_age, 0), **_attributes(info)
    )
    payload.refresh_token = None
    return payload


def clear(info: Info) -> None:
    if NAME in info.context.request.cookies:
        info.context.response.delete_cookie(NAME, **_attributes(info))


def presented(info: Info) -> str | None:
    """The refresh token from the cookie, or None; refused without a preflight header."""
    request = info.context.request
    token = request.cookies.get(NAME)
    if not token:
        return None
    if not forces_preflight(request.headers):
        raise GraphQLError(
            "A request that uses the session cookie needs an Apollo-Require-Preflight or "
            "X-Apollo-Operation-Name header (CSRF prevention).",
            extensions={"code": "FORBIDDEN", "reason": "CSRF_HEADER_REQUIRED"},
        )
    return str(token)
