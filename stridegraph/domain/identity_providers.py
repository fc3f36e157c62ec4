"""OpenID Connect identity providers: what administrators manage, and those declared in
configuration.

A provider declared in ``STRIDEGRAPH_IDENTITY_PROVIDERS`` becomes a row too (marked
``from_configuration``), written the first time a worker needs the providers and kept in
step with the configuration from then on: links, states and listings then treat both kinds
alike, and the configuration stays the one place such a provider is changed (the API
refuses to edit or delete it). A configured provider that disappears from the
configuration is disabled, not deleted, so its users' links survive a typo.

The client secret is encrypted with the cipher of the MFA secrets (``services.cipher``) and
never read back through the API: ``hasClientSecret`` is all anyone sees.

Every administrator's change is a security event (IDENTITY_PROVIDER_CREATED, _UPDATED,
_DELETED) with the administrator as actor, no subject, and the provider's id and slug (and,
for an update, the names of the fields given, never their values: one is the secret).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError

from stridegraph.config import ConfiguredProvider
from stridegraph.db import identities as rows
from stridegraph.db.models import IdentityProvider
from stridegraph.domain import identity_client, ratelimit
from stridegraph.domain import security_events as events
from stridegraph.domain.errors import Collector, DomainError, ErrorCode, Forbidden
from stridegraph.domain.security_events import EventType
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer

log = logging.getLogger("stridegraph.identity")
audit = logging.getLogger("stridegraph.audit")

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")
SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,100}")
DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
CLAIM = re.compile(r"[A-Za-z0-9_:.\-/]{1,100}(=.{1,99})?")
DEFAULT_SCOPES = ("openid", "email", "profile")


@dataclass(frozen=True)
class ProviderInput:
    """The fields of a provider; None (on an update) leaves one as it is."""

    slug: str | None = None
    name: str | None = None
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scopes: Sequence[str] | None = None
    icon_url: str | None = None
    allow_signup: bool | None = None
    allowed_domains: Sequence[str] | None = None
    admin_claim: str | None = None
    enabled: bool | None = None

    @classmethod
    def of(cls, given: object) -> ProviderInput:
        """The fields read by name from an object that declares them (the GraphQL create and
        update inputs; one it lacks, like ``slug`` on an update, stays None), so the two
        inputs cannot map a field differently."""
        return cls(**{f.name: getattr(given, f.name, None) for f in fields(cls)})


def not_found() -> DomainError:
    return DomainError.of(ErrorCode.NOT_FOUND, "There is no such identity provider.", "id")


def _require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("This needs an administrator.")


def _http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # an unclosed IPv6 bracket, a port that is no number
        return False


def _check(errors: Collector, given: ProviderInput, *, creating: bool) -> dict[str, Any]:
    """Validate what is given (everything required on creation); the column values."""
    values: dict[str, Any] = {}

    def required(name: str, value: str | None, limit: int) -> str | None:
        if value is None:
            if creating:
                errors.add(ErrorCode.REQUIRED, f"{name} is required.", name)
            return None
        value = value.strip()
        if not value:
            errors.add(ErrorCode.REQUIRED, f"{name} is required.", name)
        elif len(value) > limit:
            errors.add(ErrorCode.TOO_LONG, f"At most {limit} characters.", name)
        return value

    if creating:
        slug = required("slug", given.slug, 50)
        if slug and SLUG.fullmatch(slug) is None:
            errors.add(
                ErrorCode.INVALID,
                "Lower-case letters, digits and hyphens, starting with a letter or digit.",
                "slug",
            )
        values["slug"] = slug
    name = required("name", given.name, 100)
    if name is not None:
        values["display_name"] = name
    issuer = required("issuer", given.issuer, 500)
    if issuer:
        if not _http_url(issuer):
            errors.add(ErrorCode.INVALID, "The issuer must be an http(s) URL.", "issuer")
        values["issuer"] = issuer.rstrip("/")
    client_id = required("client_id", given.client_id, 255)
    if client_id is not None:
        values["client_id"] = client_id
    if given.client_secret is not None or creating:
        secret = given.client_secret or ""
        if not secret:
            errors.add(ErrorCode.REQUIRED, "client_secret is required.", "client_secret")
        elif len(secret) > 1000:
            errors.add(ErrorCode.TOO_LONG, "At most 1000 characters.", "client_secret")
        values["client_secret"] = secret
    if given.scopes is not None or creating:
        scopes = list(dict.fromkeys(s.strip() for s in (given.scopes or DEFAULT_SCOPES)))
        if "openid" not in scopes:
            errors.add(ErrorCode.INVALID, "The scopes must include openid.", "scopes")
        if any(SCOPE.fullmatch(s) is None for s in scopes) or len(" ".join(scopes)) > 500:
            errors.add(ErrorCode.INVALID, "Not a valid list of scopes.", "scopes")
        values["scopes"] = " ".join(scopes)
    if given.icon_url is not None:
        icon = given.icon_url.strip()
        if icon and (len(icon) > 500 or not _http_url(icon)):
            errors.add(ErrorCode.INVALID, "The icon must be an http(s) URL.", "icon_url")
        values["icon_url"] = icon or None
    if given.allowed_domains is not None:
        domains = list(dict.fromkeys(d.strip().lower().lstrip("@") for d in given.allowed_domains))
        if any(DOMAIN.fullmatch(d) is None for d in domains) or len(" ".join(domains)) > 1000:
            errors.add(ErrorCode.INVALID, "Not a list of e-mail domains.", "allowed_domains")
        values["allowed_domains"] = " ".join(domains)
    if given.admin_claim is not None:
        claim = given.admin_claim.strip()
        if claim and CLAIM.fullmatch(claim) is None:
            errors.add(
                ErrorCode.INVALID, "A claim name, optionally followed by =value.", "admin_claim"
            )
        values["admin_claim"] = claim or None
    if given.allow_signup is not None:
        values["allow_signup"] = given.allow_signup
    if given.enabled is not None:
        values["enabled"] = given.enabled
    return values


def _given_fields(given: ProviderInput) -> list[str]:
    """The API names of the fields an update gave (``clientSecret``, ``allowSignup``…)."""
    names = [f.name for f in fields(given) if getattr(given, f.name) is not None]
    return sorted(_camel(name) for name in names)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


async def _record(
    unit: Unit, type: EventType, viewer: Viewer, row: IdentityProvider, **detail: Any
) -> None:
    await events.record(
        unit,
        type=type,
        subject_id=None,
        viewer=viewer,
        detail={"providerId": row.id, "slug": row.slug, **detail},
    )


def _apply(unit: Unit, row: IdentityProvider, values: Mapping[str, Any]) -> None:
    """Set the checked ``values`` on ``row``, encrypting the client secret."""
    for key, value in values.items():
        if key == "client_secret":
            row.client_secret_encrypted = unit.services.cipher.encrypt(value)
        else:
            setattr(row, key, value)
    row.updated_at = unit.now()


def _input_of(configured: ConfiguredProvider) -> ProviderInput:
    return ProviderInput(
        slug=configured.slug,
        name=configured.name,
        issuer=configured.issuer,
        client_id=configured.client_id,
        client_secret=configured.client_secret,
        scopes=configured.scopes,
        icon_url=configured.icon_url or "",
        allow_signup=configured.allow_signup,
        allowed_domains=configured.allowed_domains,
        admin_claim=configured.admin_claim or "",
        enabled=configured.enabled,
    )


async def ensure_configured(unit: Unit) -> None:
    """Write the configured providers as rows (once per process, in a transaction of its
    own so that a read-only request can do it). A configured entry that fails validation
    is logged and left out; one whose slug an administrator's provider holds too."""
    oidc = unit.services.oidc
    if oidc.configuration_synced:
        return
    configured = {p.slug: p for p in unit.settings.identity_providers}
    await unit.release()
    try:
        await _write_configured(unit, configured)
    except IntegrityError:  # another worker wrote them at the same moment: theirs stand
        log.info("configured identity providers were written by another worker")
    oidc.configuration_synced = True


async def _write_configured(unit: Unit, configured: Mapping[str, ConfiguredProvider]) -> None:
    async with ratelimit.side_transaction(unit) as session:
        existing = {r.slug: r for r in await rows.list_providers(session) if r.from_configuration}
        for slug, entry in configured.items():
            errors = Collector()
            values = _check(errors, _input_of(entry), creating=True)
            if errors.problems:
                log.error(
                    "identity provider %r in the configuration is invalid: %s",
                    slug,
                    "; ".join(f"{p.field}: {p.message}" for p in errors.problems),
                )
                continue
            row = existing.pop(slug, None)
            if row is None:
                if await rows.slug_taken(session, slug):
                    log.error("identity provider %r: the slug is taken by another one", slug)
                    continue
                row = IdentityProvider(from_configuration=True, created_at=unit.now())
                session.add(row)
            else:
                values.pop("slug")
            _apply(unit, row, values)  # the unit's cipher and clock; the row is session's
        for row in existing.values():  # no longer configured: disabled, links kept
            row.enabled = False
        await session.flush()


async def identity_providers(unit: Unit, *, viewer: Viewer) -> Sequence[IdentityProvider]:
    """Every provider, for administrators."""
    _require_admin(viewer)
    await ensure_configured(unit)
    return await rows.list_providers(unit.session)


async def sign_in_providers(unit: Unit) -> Sequence[IdentityProvider]:
    """The enabled providers, for anyone (a login page's buttons)."""
    await ensure_configured(unit)
    return await rows.list_providers(unit.session, enabled_only=True)


async def create_identity_provider(
    unit: Unit, *, viewer: Viewer, given: ProviderInput
) -> IdentityProvider:
    _require_admin(viewer)
    await ensure_configured(unit)
    errors = Collector()
    values = _check(errors, given, creating=True)
    errors.raise_if_any()
    if await rows.slug_taken(unit.session, values["slug"]):
        raise DomainError.of(ErrorCode.INVALID, "Another provider has this slug.", "slug")
    now = unit.now()
    row = IdentityProvider(created_at=now, allow_signup=False, enabled=True, allowed_domains="")
    _apply(unit, row, values)
    try:
        await rows.insert_provider(unit.session, row)
    except rows.SlugTaken:
        raise DomainError.of(ErrorCode.INVALID, "Another provider has this slug.", "slug") from None
    await _record(unit, EventType.IDENTITY_PROVIDER_CREATED, viewer, row)
    audit.info("identity provider %s created by user %s", row.slug, viewer.user_id)
    return row


async def _editable(unit: Unit, provider_id: int | None) -> IdentityProvider:
    row = await rows.get_provider(unit.session, provider_id) if provider_id else None
    if row is None:
        raise not_found()
    if row.from_configuration:
        raise DomainError.of(
            ErrorCode.INVALID,
            "This provider is declared in the server's configuration; change it there.",
            "id",
        )
    return row


async def update_identity_provider(
    unit: Unit, *, viewer: Viewer, provider_id: int | None, given: ProviderInput
) -> IdentityProvider:
    """Change what is given; a new client secret replaces the old one (never shown)."""
    _require_admin(viewer)
    await ensure_configured(unit)
    row = await _editable(unit, provider_id)
    errors = Collector()
    values = _check(errors, given, creating=False)
    errors.raise_if_any()
    _apply(unit, row, values)
    await unit.session.flush()
    await _record(
        unit, EventType.IDENTITY_PROVIDER_UPDATED, viewer, row, fields=_given_fields(given)
    )
    audit.info("identity provider %s updated by user %s", row.slug, viewer.user_id)
    return row


async def delete_identity_provider(
    unit: Unit, *, viewer: Viewer, provider_id: int | None
) -> IdentityProvider:
    """Remove a provider with its links. Refused while a user would be left with no way
    to sign in (an account whose only sign-in method is this provider)."""
    _require_admin(viewer)
    await ensure_configured(unit)
    row = await _editable(unit, provider_id)
    stranded = await rows.users_only_signing_in_with(unit.session, row.slug)
    if stranded:
        raise DomainError.of(
            ErrorCode.LAST_SIGN_IN_METHOD,
            f"{stranded} account(s) can only sign in with this provider; give them a password "
            "or a passkey, or remove them first.",
            "id",
        )
    provider_id, slug = row.id, row.slug
    await rows.delete_provider(unit.session, row)
    await events.record(
        unit,
        type=EventType.IDENTITY_PROVIDER_DELETED,
        subject_id=None,
        viewer=viewer,
        detail={"providerId": provider_id, "slug": slug},
    )
    audit.info("identity provider %s deleted by user %s", row.slug, viewer.user_id)
    return row


async def usable_provider(
    unit: Unit, *, provider_id: int | None = None, slug: str | None = None
) -> tuple[IdentityProvider, identity_client.Client]:
    """An enabled provider with its client credentials (secret decrypted), or NOT_FOUND
    (on ``provider``)."""
    await ensure_configured(unit)
    if slug is not None:
        row = await rows.get_provider_by_slug(unit.session, slug, with_secret=True)
    else:
        row = (
            await rows.get_provider(unit.session, provider_id, with_secret=True)
            if provider_id
            else None
        )
    if row is None or not row.enabled:  # on a finish (by slug) there is no such argument
        field = "provider" if slug is None else None
        raise DomainError.of(ErrorCode.NOT_FOUND, "There is no such identity provider.", field)
    try:
        secret = unit.services.cipher.decrypt(row.client_secret_encrypted)
    except ValueError:
        log.error("identity provider %s: its client secret cannot be decrypted", row.slug)
        raise DomainError.of(
            ErrorCode.PROVIDER_UNAVAILABLE, "This identity provider is misconfigured.", "provider"
        ) from None
    return row, identity_client.Client(
        issuer=row.issuer, client_id=row.client_id, client_secret=secret, scopes=row.scopes
    )
