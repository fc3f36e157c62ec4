"""Who is asking: resolve a bearer token to a :class:`Viewer`."""

from __future__ import annotations

from dataclasses import dataclass

from stridegraph.db import api_tokens as api_token_rows
from stridegraph.db import sessions as session_rows
from stridegraph.db.enums import AccessType
from stridegraph.db.models import User
from stridegraph.domain import tokens
from stridegraph.domain.errors import Unauthenticated
from stridegraph.domain.scopes import scopes_for
from stridegraph.domain.unit import Unit


@dataclass(frozen=True)
class Viewer:
    """A signed-in user and what this credential lets them do."""

    user: User
    scopes: frozenset[str]
    session_id: int | None = None
    api_token_id: int | None = None

    @property
    def user_id(self) -> int:
        return self.user.id

    @property
    def is_admin(self) -> bool:
        return self.user.access_type is AccessType.ADMIN

    def has(self, scope: str) -> bool:
        return scope in self.scopes


async def resolve_bearer(unit: Unit, *, token: str) -> Viewer:
    """The viewer for a session access token or personal API token, in one SQL statement.

    Raises :class:`Unauthenticated` for anything that is not a live token of an active
    account: a bad token is an error, never a silent fall-back to anonymous.
    """
    if tokens.looks_like(token, tokens.ACCESS):
        found = await session_rows.find_active_by_access_hash(
            unit.session, tokens.digest(unit.settings.secret_key, token), unit.now()
        )
        if found is not None:
            session, user = found
            if user.active:
                return Viewer(user=user, scopes=scopes_for(user.access_type), session_id=session.id)
    elif tokens.looks_like(token, tokens.PERSONAL):
        found_token = await api_token_rows.find_active_by_hash(
            unit.session, tokens.digest(unit.settings.secret_key, token), unit.now()
        )
        if found_token is not None:
            api_token, user = found_token
            if user.active:
                allowed = scopes_for(user.access_type)
                granted = frozenset(api_token.scopes.split()) & allowed
                return Viewer(user=user, scopes=granted, api_token_id=api_token.id)
    raise Unauthenticated("The token is invalid, expired or revoked.")
