"""Signing in with an OpenID Connect provider, and linking external identities.

The flow is the authorization code flow with PKCE (S256), ``state`` and ``nonce``, for SPAs
and native apps: ``startExternalLogin`` stores the state's HMAC digest (single use, ten
minutes) with the PKCE verifier (encrypted) and the nonce, and answers the provider's
authorization URL; the app comes back with ``code`` and ``state`` and calls
``finishExternalLogin``, which exchanges the code and validates the ID token
(``domain/identity_client.py``).

Accounts are matched by provider and ``sub`` only. An e-mail address the provider vouches
for never links an identity to an existing account (whoever controls a provider account
with that address would take the stridegraph account over): linking is
``startLinkIdentity`` / ``finishLinkIdentity``, by the signed-in owner, with recent
authentication. A first sign-in creates an account only when the provider allows it, the
server's sign-up is on and needs no administrator's approval, and the provider confirmed
an address that no account uses.

The end of a sign-in is password login's: the same account checks
(``login.check_can_sign_in``), the same rate limits (an attempt is reserved per finished
state and counted against the client address; a locked account stays locked), and the same
session or MFA challenge (``login.finish_login``, ``mfa.start_challenge``).

A state is consumed in a transaction of its own before the provider is asked: a finish that
fails for any reason has still used it up.

Security events: every finished sign-in is SIGN_IN_SUCCEEDED with the method PROVIDER, every
refused one SIGN_IN_FAILED (or LOCKOUT) of the account the identity is linked to, or of no
account; links are IDENTITY_LINKED / IDENTITY_UNLINKED (ADMIN_IDENTITY_REMOVED for an
administrator's removal), with the link's id and the provider's slug, never the provider's
code, state or subject. A link the owner makes is mailed to them (``security_alerts``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stridegraph.db import identities as rows
from stridegraph.db import users as user_rows
from stridegraph.db.enums import AccessType
from stridegraph.db.models import IdentityProvider, IdentityProviderLink, OAuthState, User
from stridegraph.domain import accounts, mfa, ratelimit, reauth, security_alerts, tokens
from stridegraph.domain import security_events as events
from stridegraph.domain.errors import DomainError, ErrorCode, Forbidden
from stridegraph.domain.identity_client import Client, ProviderRefused, ProviderUnavailable
from stridegraph.domain.identity_providers import usable_provider
from stridegraph.domain.login import LoginResult, check_can_sign_in, finish_login
from stridegraph.domain.security_events import EventType, SignInMethod
from stridegraph.domain.settings import get_settings
from stridegraph.domain.sign_in_methods import sign_in_methods
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer

log = logging.getLogger("stridegraph.identity")
audit = logging.getLogger("stridegraph.audit")

STATE_PREFIX = "sgs_"
STATE_TTL = dt.timedelta(minutes=10)
LOGIN, LINK = "login", "link"
_USERNAME_JUNK = re.compile(r"[^A-Za-z0-9.]+")


@dataclass(frozen=True)
class Pending:
    """A consumed state: what the start stored."""

    provider: str
    user_id: int | None
    redirect_uri: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class LinkedIdentity:
    """A link with the provider it is to (for display)."""

    link: IdentityProviderLink
    provider: IdentityProvider | None


def invalid_state() -> DomainError:
    return DomainError.of(
        ErrorCode.INVALID_TOKEN, "This sign-in is invalid or has expired; start again.", "state"
    )


def unavailable() -> DomainError:
    return DomainError.of(
        ErrorCode.PROVIDER_UNAVAILABLE,
        "The identity provider cannot be reached right now; try again later.",
    )


def _allowed_redirect(unit: Unit, redirect_uri: str) -> None:
    if redirect_uri not in unit.settings.oidc_redirect_uris:
        raise DomainError.of(
            ErrorCode.INVALID, "This redirect URI is not allowed by the server.", "redirect_uri"
        )


async def _start(
    unit: Unit,
    *,
    provider_id: int | None,
    redirect_uri: str,
    purpose: str,
    user_id: int | None,
) -> str:
    # Authlib on first use, not at start-up (memory: see domain/identity_client.py)
    from authlib.common.security import generate_token

    _allowed_redirect(unit, redirect_uri)
    row, client = await usable_provider(unit, provider_id=provider_id)
    state, digest = tokens.issue(unit.settings.secret_key, STATE_PREFIX)
    nonce = secrets.token_urlsafe(24)
    verifier = generate_token(64)
    await unit.release()  # no connection held while the provider answers
    try:
        url = await unit.services.oidc.authorization_url(
            client, redirect_uri=redirect_uri, state=state, nonce=nonce, code_verifier=verifier
        )
    except ProviderUnavailable as exc:
        log.warning("identity provider %s unavailable: %s", row.slug, exc)
        raise unavailable() from None
    now = unit.now()
    await rows.add_state(
        unit.session,
        OAuthState(
            state_hash=digest,
            provider=row.slug,
            purpose=purpose,
            user_id=user_id,
            redirect_uri=redirect_uri,
            nonce=nonce,
            code_verifier_encrypted=unit.services.cipher.encrypt(verifier),
            created_at=now,
            expires_at=now + STATE_TTL,
        ),
        now=now,
    )
    return url


async def _redeem(
    unit: Unit, *, state: str, purpose: str, client_address: str
) -> tuple[Pending, ratelimit.Attempt]:
    """Reserve a rate-limited attempt, then use the state up (in its own transaction)."""
    state = state.strip()
    digest = tokens.digest(unit.settings.secret_key, state)
    await unit.release()
    attempt = await ratelimit.begin_attempt(
        unit, account_key=f"?external:{digest.hex()[:32]}", client_address=client_address
    )
    if not tokens.looks_like(state, STATE_PREFIX):
        raise invalid_state()
    async with ratelimit.side_transaction(unit) as session:
        row = await rows.consume_state(session, state_hash=digest, purpose=purpose, now=unit.now())
        if row is None:
            raise invalid_state()
        pending = Pending(
            provider=row.provider,
            user_id=row.user_id,
            redirect_uri=row.redirect_uri,
            nonce=row.nonce,
            code_verifier=_decrypt(unit, row.code_verifier_encrypted),
        )
    return pending, attempt


def _decrypt(unit: Unit, ciphertext: str) -> str:
    try:
        return unit.services.cipher.decrypt(ciphertext)
    except ValueError:
        raise invalid_state() from None


async def _claims(unit: Unit, pending: Pending, client: Client, code: str) -> dict[str, Any]:
    if not code.strip() or len(code) > 2000:
        raise DomainError.of(ErrorCode.INVALID_CODE, "The authorization code is missing.", "code")
    await unit.release()
    try:
        return await unit.services.oidc.exchange(
            client,
            code=code.strip(),
            redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier,
            nonce=pending.nonce,
            now=unit.now().timestamp(),
        )
    except ProviderUnavailable as exc:
        log.warning("identity provider %s unavailable: %s", pending.provider, exc)
        raise unavailable() from None
    except ProviderRefused as exc:
        log.info("external sign-in with %s refused: %s", pending.provider, exc.reason)
        raise DomainError.of(
            ErrorCode.INVALID_CODE,
            "The identity provider's answer could not be verified; start again.",
            "code",
        ) from None


def _verified_email(claims: dict[str, Any]) -> str | None:
    email = claims.get("email")
    if isinstance(email, str) and email and claims.get("email_verified") is True:
        return email
    return None


def _domain_allowed(provider: IdentityProvider, email: str | None) -> bool:
    domains = provider.allowed_domains.split()
    if not domains:
        return True
    if email is None or "@" not in email:
        return False
    return email.rsplit("@", 1)[1].lower() in domains


def _is_admin_by_claim(provider: IdentityProvider, claims: dict[str, Any]) -> bool:
    """``claim``: the claim is true (or a non-empty string); ``claim=value``: the claim
    equals value, or is a list holding it."""
    if not provider.admin_claim:
        return False
    name, eq, wanted = provider.admin_claim.partition("=")
    value = claims.get(name)
    if not eq:
        return value is True or (isinstance(value, str) and value.lower() == "true")
    if isinstance(value, list):
        return wanted in value
    return value == wanted


def _refuse_domain() -> DomainError:
    return DomainError.of(
        ErrorCode.INVALID,
        "This provider may not be used with your e-mail address's domain.",
        "code",
    )


async def _new_username(unit: Unit, claims: dict[str, Any], email: str) -> str:
    raw = claims.get("preferred_username")
    base = _USERNAME_JUNK.sub("", raw if isinstance(raw, str) else "")
    if not base.strip("."):
        base = _USERNAME_JUNK.sub("", email.split("@", 1)[0])
    if not base.strip("."):
        base = "user"
    base = base[:40]
    for n in range(10):
        candidate = base if n == 0 else f"{base}{n + 1}"
        if not await user_rows.username_taken(unit.session, candidate):
            return candidate
    return f"{base}{secrets.randbelow(10**8)}"


async def _create_account(unit: Unit, provider: IdentityProvider, claims: dict[str, Any]) -> User:
    """A first sign-in's account, where everything allows one (see the module docstring)."""
    no_account = DomainError.of(
        ErrorCode.SIGNUP_DISABLED,
        "No account is linked to this identity. Sign in another way and link it from your "
        "account settings.",
    )
    if not provider.allow_signup:
        raise no_account
    settings = await get_settings(unit)
    if not settings.signup_enabled or settings.signup_require_admin_approval:
        raise no_account
    email = _verified_email(claims)
    if email is None:
        raise DomainError.of(
            ErrorCode.EMAIL_NOT_VERIFIED,
            "The identity provider did not confirm an e-mail address for you.",
        )
    if not _domain_allowed(provider, email):
        raise _refuse_domain()
    if await user_rows.email_taken(unit.session, email):
        raise DomainError.of(
            ErrorCode.EMAIL_TAKEN,
            "An account uses this e-mail address: sign in to it and link this provider from "
            "your account settings.",
            "email",
        )
    username = await _new_username(unit, claims, email)
    name = claims.get("name")
    user = await accounts.create_account(
        unit,
        account=accounts.NewAccount(
            username=username,
            email=email,
            name=(name if isinstance(name, str) and name.strip() else username)[:250],
            password=None,
            access_type=AccessType.ADMIN
            if _is_admin_by_claim(provider, claims)
            else AccessType.REGULAR,
            email_verified=True,
        ),
    )
    audit.info("user %s created by a first sign-in with %s", user.id, provider.slug)
    return user


async def _link(
    unit: Unit, *, user_id: int, provider: IdentityProvider, subject: str
) -> IdentityProviderLink:
    try:
        return await rows.insert_link(
            unit.session,
            IdentityProviderLink(
                user_id=user_id, provider=provider.slug, subject=subject, created_at=unit.now()
            ),
        )
    except rows.AlreadyLinked:
        raise already_linked() from None


async def _record_link(
    unit: Unit,
    type: EventType,
    link: IdentityProviderLink,
    *,
    viewer: Viewer | None = None,
    actor_id: int | None = None,
) -> None:
    """A link's event: which link and provider (never the provider's subject)."""
    await events.record(
        unit,
        type=type,
        subject_id=link.user_id,
        viewer=viewer,
        actor_id=actor_id,
        detail={"identityId": link.id, "provider": link.provider},
    )


def already_linked() -> DomainError:
    return DomainError.of(
        ErrorCode.IDENTITY_ALREADY_LINKED, "This identity is already linked to an account."
    )


# --------------------------------------------------------------------------- sign-in


async def start_external_login(unit: Unit, *, provider_id: int | None, redirect_uri: str) -> str:
    """The provider's authorization URL for a new sign-in (anyone)."""
    return await _start(
        unit, provider_id=provider_id, redirect_uri=redirect_uri, purpose=LOGIN, user_id=None
    )


async def finish_external_login(
    unit: Unit,
    *,
    code: str,
    state: str,
    client_address: str,
    user_agent: str | None = None,
) -> LoginResult:
    """Exchange the code, validate the ID token, then sign the linked user in (or create an
    account, see the module docstring) exactly as password login ends. A refusal is
    recorded as a failed sign-in of the linked account (none when no account is linked)."""
    async with events.SignInFailures(unit, SignInMethod.PROVIDER) as attempt:
        return await _finish_external_login(
            unit,
            code=code,
            state=state,
            client_address=client_address,
            user_agent=user_agent,
            failures=attempt,
        )


async def _finish_external_login(
    unit: Unit,
    *,
    code: str,
    state: str,
    client_address: str,
    user_agent: str | None,
    failures: events.SignInFailures,
) -> LoginResult:
    pending, attempt = await _redeem(
        unit, state=state, purpose=LOGIN, client_address=client_address
    )
    provider, client = await usable_provider(unit, slug=pending.provider)
    claims = await _claims(unit, pending, client, code)
    subject = str(claims["sub"])
    link = await rows.find_link(unit.session, provider=provider.slug, subject=subject)
    user = await user_rows.get_by_id(unit.session, link.user_id) if link is not None else None
    await unit.release()
    if user is not None:
        failures.user_id = user.id  # the linked account, once the provider said who it is
        await ratelimit.refuse_if_locked(
            unit, account_key=ratelimit.user_key(user), client_address=client_address
        )
        if user.mfa_enabled:  # the count resets once the MFA code is right too
            await ratelimit.released(unit, attempt=attempt)
        else:
            await ratelimit.succeeded(unit, attempt=attempt, user=user)
        if _is_admin_by_claim(provider, claims) and user.access_type is not AccessType.ADMIN:
            user.access_type = AccessType.ADMIN
            user.updated_at = unit.now()
            audit.info("user %s made an admin by %s's claim", user.id, provider.slug)
    else:
        await ratelimit.succeeded(unit, attempt=attempt)
        user = await _create_account(unit, provider, claims)
        created = await _link(unit, user_id=user.id, provider=provider, subject=subject)
        # no mail: the owner is making the account with this very identity
        await _record_link(unit, EventType.IDENTITY_LINKED, created, actor_id=user.id)
    await check_can_sign_in(unit, user)
    if user.mfa_enabled:
        return LoginResult(user=user, mfa_token=await mfa.start_challenge(unit, user=user))
    issued = await finish_login(
        unit,
        user=user,
        user_agent=user_agent,
        client_address=client_address,
        method=SignInMethod.PROVIDER,
    )
    audit.info("user %s signed in with %s", user.id, provider.slug)
    return LoginResult(user=user, session=issued)


# --------------------------------------------------------------------------- linking


def _session_only(viewer: Viewer) -> None:
    if viewer.session_id is None:
        raise Forbidden("Linking an identity needs a session, not an API token.")


async def start_link_identity(
    unit: Unit,
    *,
    viewer: Viewer,
    provider_id: int | None,
    redirect_uri: str,
    proof: reauth.Proof = reauth.NO_PROOF,
) -> str:
    """The authorization URL for linking a provider's identity to the viewer's account;
    needs recent authentication (whoever links an identity can sign in with it)."""
    _session_only(viewer)
    _allowed_redirect(unit, redirect_uri)
    await reauth.require_recent_auth(unit, viewer=viewer, proof=proof)
    return await _start(
        unit,
        provider_id=provider_id,
        redirect_uri=redirect_uri,
        purpose=LINK,
        user_id=viewer.user_id,
    )


async def finish_link_identity(
    unit: Unit, *, viewer: Viewer, code: str, state: str, client_address: str
) -> LinkedIdentity:
    """Validate the provider's answer and link its identity to the viewer (only the user
    who started the link may finish it)."""
    _session_only(viewer)
    pending, attempt = await _redeem(unit, state=state, purpose=LINK, client_address=client_address)
    if pending.user_id != viewer.user_id:
        raise invalid_state()
    provider, client = await usable_provider(unit, slug=pending.provider)
    claims = await _claims(unit, pending, client, code)
    await ratelimit.succeeded(unit, attempt=attempt)
    if not _domain_allowed(provider, _verified_email(claims)):
        raise _refuse_domain()
    subject = str(claims["sub"])
    if await rows.find_link(unit.session, provider=provider.slug, subject=subject) is not None:
        raise already_linked()
    link = await _link(unit, user_id=viewer.user_id, provider=provider, subject=subject)
    await _record_link(unit, EventType.IDENTITY_LINKED, link, viewer=viewer)
    await security_alerts.credential_added(
        unit, user=viewer.user, kind=security_alerts.Alert.IDENTITY, name=provider.display_name
    )
    audit.info("user %s linked an identity of %s", viewer.user_id, provider.slug)
    return LinkedIdentity(link=link, provider=provider)


async def _with_providers(
    unit: Unit, links: Sequence[IdentityProviderLink]
) -> list[LinkedIdentity]:
    providers = {p.slug: p for p in await rows.list_providers(unit.session)}
    return [LinkedIdentity(link=link, provider=providers.get(link.provider)) for link in links]


async def my_identities(unit: Unit, *, viewer: Viewer) -> list[LinkedIdentity]:
    return await _with_providers(unit, await rows.links_of(unit.session, viewer.user_id))


async def unlink_identity(unit: Unit, *, viewer: Viewer, identity_id: int | None) -> LinkedIdentity:
    """Remove one of the viewer's links, unless it is their last way to sign in."""
    link = await rows.get_link(unit.session, identity_id) if identity_id else None
    if link is None or link.user_id != viewer.user_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "There is no such identity.", "id")
    if await sign_in_methods(unit.session, user_id=viewer.user_id) <= 1:
        raise DomainError.of(
            ErrorCode.LAST_SIGN_IN_METHOD,
            "This is your only way to sign in: set a password or link another identity first.",
            "id",
        )
    found = (await _with_providers(unit, [link]))[0]
    await _record_link(unit, EventType.IDENTITY_UNLINKED, link, viewer=viewer)
    await rows.delete_link(unit.session, link)
    audit.info("user %s unlinked an identity of %s", viewer.user_id, link.provider)
    return found


# --------------------------------------------------------------------------- administrators


def _require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("This needs an administrator.")


async def user_identities(
    unit: Unit, *, viewer: Viewer, user_id: int | None
) -> list[LinkedIdentity]:
    """A user's links (administrators); empty for an unknown user."""
    _require_admin(viewer)
    if not user_id:
        return []
    return await _with_providers(unit, await rows.links_of(unit.session, user_id))


async def remove_user_identity(
    unit: Unit, *, viewer: Viewer, identity_id: int | None
) -> LinkedIdentity:
    """Remove any user's link (administrators). Allowed even when it is the user's last
    way to sign in: an administrator removing a compromised link can then set a password
    or send a reset link."""
    _require_admin(viewer)
    link = await rows.get_link(unit.session, identity_id) if identity_id else None
    if link is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "There is no such identity.", "id")
    found = (await _with_providers(unit, [link]))[0]
    await _record_link(unit, EventType.ADMIN_IDENTITY_REMOVED, link, viewer=viewer)
    await rows.delete_link(unit.session, link)
    audit.info(
        "identity of %s removed from user %s by user %s",
        link.provider,
        link.user_id,
        viewer.user_id,
    )
    return found
