"""Random bearer secrets and their stored form.

Every secret we hand out is 256 bits from ``secrets`` with a short prefix that says what it
is (``sga_`` access, ``sgr_`` refresh, ``sgp_`` personal API token, ``sgo_`` one-time link
token, ``sgm_`` MFA login token). Only HMAC-SHA256(SECRET_KEY, secret) is stored, so a copy of
the database alone neither authenticates nor lets anyone check guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ACCESS = "sga_"
REFRESH = "sgr_"
PERSONAL = "sgp_"
ONE_TIME = "sgo_"
MFA_LOGIN = "sgm_"


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret_key: str, token: str) -> bytes:
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).digest()


def issue(secret_key: str, prefix: str) -> tuple[str, bytes]:
    """A new secret and the digest to store for it."""
    token = new_secret(prefix)
    return token, digest(secret_key, token)


def looks_like(token: str, prefix: str) -> bool:
    return token.startswith(prefix) and 40 <= len(token) <= 60
