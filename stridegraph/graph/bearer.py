"""The one reading of ``Authorization: Bearer <token>``, for ``/graphql`` and ``/photos``.

Both endpoints take the same credentials, so they must agree on what a malformed header is:
an error (never a silent downgrade to anonymous), with the same ``TOKEN_INVALID`` reason a
bad token gets, so a client handles both alike (sign in again).
"""

from __future__ import annotations

from stridegraph.domain.errors import TOKEN_INVALID, Unauthenticated


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization`` header; None without a header (anonymous).
    Raises :class:`Unauthenticated` for another scheme or an empty token."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Use Authorization: Bearer <token>.", reason=TOKEN_INVALID)
    return token.strip()
