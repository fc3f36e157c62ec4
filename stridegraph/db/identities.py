"""SQL for OpenID Connect: identity providers, started sign-ins (``oauth_states``) and the
links between users and external identities (``user_identity_providers``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, undefer

from stridegraph.db import single_use
from stridegraph.db.models import IdentityProvider, IdentityProviderLink, OAuthState, Passkey, User

# --------------------------------------------------------------------------- providers


async def list_providers(
    session: AsyncSession, *, enabled_only: bool = False
) -> Sequence[IdentityProvider]:
    query = select(IdentityProvider).order_by(IdentityProvider.display_name, IdentityProvider.id)
    if enabled_only:
        query = query.where(IdentityProvider.enabled.is_(True))
    return (await session.scalars(query)).all()


async def get_provider(
    session: AsyncSession, provider_id: int, *, with_secret: bool = False
) -> IdentityProvider | None:
    query = select(IdentityProvider).where(IdentityProvider.id == provider_id)
    if with_secret:
        query = query.options(undefer(IdentityProvider.client_secret_encrypted))
    return (await session.scalars(query)).first()


async def get_provider_by_slug(
    session: AsyncSession, slug: str, *, with_secret: bool = False
) -> IdentityProvider | None:
    query = select(IdentityProvider).where(IdentityProvider.slug == slug)
    if with_secret:
        query = query.options(undefer(IdentityProvider.client_secret_encrypted))
    return (await session.scalars(query)).first()


async def slug_taken(session: AsyncSession, slug: str) -> bool:
    found = await session.scalar(
        select(func.count()).select_from(IdentityProvider).where(IdentityProvider.slug == slug)
    )
    return bool(found)


class SlugTaken(Exception):
    """The unique index on ``slug`` refused a concurrent insert."""


async def insert_provider(session: AsyncSession, row: IdentityProvider) -> IdentityProvider:
    return await _insert(session, row, SlugTaken)


R = TypeVar("R")


async def _insert(session: AsyncSession, row: R, refused: type[Exception]) -> R:
    """Add and flush ``row``; ``refused`` when a unique index refuses it (the caller rolls
    back on the error: no savepoint needed)."""
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        raise refused from None
    return row


async def delete_provider(session: AsyncSession, row: IdentityProvider) -> None:
    """The provider, its links and its started sign-ins."""
    await session.execute(
        delete(IdentityProviderLink)
        .where(IdentityProviderLink.provider == row.slug)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(OAuthState)
        .where(OAuthState.provider == row.slug)
        .execution_options(synchronize_session=False)
    )
    await session.delete(row)
    await session.flush()


async def users_only_signing_in_with(session: AsyncSession, slug: str) -> int:
    """How many users linked to provider ``slug`` have no password, no passkey and no other
    link: they would be locked out without it."""
    other = aliased(IdentityProviderLink)
    found = await session.scalar(
        select(func.count())
        .select_from(IdentityProviderLink)
        .join(User, User.id == IdentityProviderLink.user_id)
        .where(
            IdentityProviderLink.provider == slug,
            User.password_hash.is_(None),
            ~exists().where(other.user_id == IdentityProviderLink.user_id, other.provider != slug),
            ~exists().where(Passkey.user_id == IdentityProviderLink.user_id),
        )
    )
    return int(found or 0)


# --------------------------------------------------------------------------- states


async def add_state(session: AsyncSession, row: OAuthState, *, now: dt.datetime) -> None:
    """Store a started sign-in, dropping the expired and used ones first (housekeeping that
    keeps the table at about ten minutes of traffic)."""
    await session.execute(
        delete(OAuthState)
        .where((OAuthState.expires_at <= now) | OAuthState.used_at.is_not(None))
        .execution_options(synchronize_session=False)
    )
    session.add(row)
    await session.flush()


async def consume_state(
    session: AsyncSession, *, state_hash: bytes, purpose: str, now: dt.datetime
) -> OAuthState | None:
    """Mark the live state with this digest used and return it; None when there is none
    (``db/single_use.take``: of two concurrent finishes only one gets it)."""
    return await single_use.take(
        session, OAuthState, OAuthState.state_hash, state_hash, purpose=purpose, now=now
    )


# --------------------------------------------------------------------------- links


async def find_link(
    session: AsyncSession, *, provider: str, subject: str
) -> IdentityProviderLink | None:
    return (
        await session.scalars(
            select(IdentityProviderLink).where(
                IdentityProviderLink.provider == provider, IdentityProviderLink.subject == subject
            )
        )
    ).first()


async def links_of(session: AsyncSession, user_id: int) -> Sequence[IdentityProviderLink]:
    return (
        await session.scalars(
            select(IdentityProviderLink)
            .where(IdentityProviderLink.user_id == user_id)
            .order_by(IdentityProviderLink.created_at, IdentityProviderLink.id)
        )
    ).all()


async def get_link(session: AsyncSession, link_id: int) -> IdentityProviderLink | None:
    return await session.get(IdentityProviderLink, link_id)


async def count_links(session: AsyncSession, user_id: int) -> int:
    found = await session.scalar(
        select(func.count())
        .select_from(IdentityProviderLink)
        .where(IdentityProviderLink.user_id == user_id)
    )
    return int(found or 0)


class AlreadyLinked(Exception):
    """The unique index on (provider, subject) refused the link."""


async def insert_link(session: AsyncSession, row: IdentityProviderLink) -> IdentityProviderLink:
    return await _insert(session, row, AlreadyLinked)


async def delete_link(session: AsyncSession, row: IdentityProviderLink) -> None:
    await session.delete(row)
    await session.flush()
