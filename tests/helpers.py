"""Arranging data through the domain layer, as the service itself would."""

from __future__ import annotations

from stridegraph.db.enums import AccessType
from stridegraph.db.models import User
from stridegraph.domain import accounts, sessions
from stridegraph.domain.unit import Services, open_unit

PASSWORD = "correct horse battery staple 1A!"


async def make_user(
    services: Services,
    username: str = "alice",
    *,
    email: str | None = None,
    name: str | None = None,
    admin: bool = False,
    password: str | None = PASSWORD,
    **flags: bool,
) -> User:
    account = accounts.NewAccount(
        username=username,
        email=email or f"{username}@example.com",
        name=name or username.title(),
        password=password,
        access_type=AccessType.ADMIN if admin else AccessType.REGULAR,
        email_verified=flags.pop("email_verified", True),
        **flags,
    )
    async with open_unit(services) as unit:
        return await unit.transaction(accounts.create_account, account=account)  # type: ignore[no-any-return]


async def login_token(services: Services, user: User, **kw: str) -> str:
    """An access token for ``user``, from a session made through the domain layer."""
    async with open_unit(services) as unit:
        issued = await unit.transaction(sessions.create_session, user=user, **kw)
    return issued.access_token  # type: ignore[no-any-return]


async def scoped_token(services: Services, user: User, scopes: list[str]) -> str:
    """A personal API token for ``user`` holding only ``scopes``."""
    from stridegraph.domain import api_tokens
    from stridegraph.domain.scopes import scopes_for
    from stridegraph.domain.viewer import Viewer

    # as a session that has just signed in (recent authentication, see domain/reauth.py)
    viewer = Viewer(user=user, scopes=scopes_for(user.access_type), signed_in_at=services.now())
    async with open_unit(services) as unit:
        issued = await unit.transaction(
            api_tokens.create_api_token, viewer=viewer, name="test", scopes=scopes
        )
    return issued.token  # type: ignore[no-any-return]
