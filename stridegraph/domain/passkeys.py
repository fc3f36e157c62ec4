"""Passkeys (WebAuthn): registering them, signing in with them, managing them.

Every ceremony has two steps. ``start_*`` makes a random challenge and the options a browser
hands to ``navigator.credentials.create()`` / ``.get()``; ``finish_*`` takes what the
browser answered and has py_webauthn verify it (signature, origin, RP id, user presence, and
user verification where the settings require it). We never parse CBOR or COSE ourselves.

- Challenges are single use, live five minutes and are bound to their purpose (and, for a
  registration or a sign-in that named a user, to that user). Only their HMAC digest is
  stored, in the database, so any worker can finish a ceremony another one started. The
  challenge of an answer is read from its client data, digested and consumed in one
  conditional ``UPDATE``; the library then checks it matches what was signed.
- Sign-in is password login with another first factor: the same rate limits (per account
  and per client address), the same account checks once the passkey is proven (through
  ``domain/login.py``), the same session or MFA challenge. A passkey used with user
  verification is two factors in one (possession and a PIN or biometric), so it satisfies
  MFA; without it, a user with TOTP on still gives a code.
- A signature counter that does not increase (when either side is non-zero) means the
  credential may have been cloned: the sign-in is refused and logged.
- Unknown credentials, credentials of another user, and bad signatures all answer the same
  INVALID_CREDENTIALS. ``startPasskeyLogin`` with a username that names nobody (or a user
  without passkeys) answers with a decoy credential id derived from the name, so its answer
  does not say whether the account exists.
- Every change is a security event in its transaction (PASSKEY_ADDED, PASSKEY_REMOVED,
  ADMIN_PASSKEYS_REVOKED) and every sign-in, good or refused, one with the method PASSKEY;
  a new passkey is mailed to the owner (``security_alerts``, unless turned off). No event
  holds a credential id, a public key or a challenge: the row's id and name say which.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stridegraph.db import passkeys as rows
from stridegraph.db import users as user_rows
from stridegraph.db.enums import TokenPurpose
from stridegraph.db.models import Passkey, PasskeyChallenge, User
from stridegraph.domain import (
    login,
    mfa,
    notices,
    ratelimit,
    reauth,
    security_alerts,
    sign_in_methods,
    tokens,
)
from stridegraph.domain import one_time_tokens as ott
from stridegraph.domain import security_events as events
from stridegraph.domain.access import require
from stridegraph.domain.accounts import owns_address
from stridegraph.domain.admin import not_found, require_admin
from stridegraph.domain.errors import DomainError, ErrorCode
from stridegraph.domain.scopes import PROFILE_WRITE, USERS_READ
from stridegraph.domain.security_events import EventType, SignInMethod
from stridegraph.domain.unit import Unit
from stridegraph.domain.viewer import Viewer

if TYPE_CHECKING:
    from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
    from webauthn.helpers.structs import (
        AuthenticationCredential,
        AuthenticatorTransport,
        PublicKeyCredentialDescriptor,
        RegistrationCredential,
        UserVerificationRequirement,
    )

# py_webauthn is imported by the functions that use it, on first use, not at start-up: with
# what it pulls in (pyOpenSSL, asn1crypto, cbor2) it is about 5 MB of every worker's memory,
# most of which never see a passkey ceremony. (Memory, not an import cycle.)

log = logging.getLogger("stridegraph.passkeys")
audit = logging.getLogger("stridegraph.audit")

REGISTRATION = "registration"
LOGIN = "login"
CHALLENGE_TTL = dt.timedelta(minutes=5)
MAX_PASSKEYS = 25
MAX_NAME_LENGTH = 100
DEFAULT_NAME = "Passkey"
CREDENTIAL_FIELD = "credential"


def _input_errors() -> tuple[type[Exception], ...]:
    """What malformed input can make parsing or verification raise (bad base64 and bad CBOR
    are ValueErrors; a JSON value of the wrong shape, a TypeError or KeyError)."""
    from webauthn.helpers.exceptions import WebAuthnException  # on first use, for memory

    return (
        WebAuthnException,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
    )


@dataclass(frozen=True)
class Ceremony:
    """The options for the browser, as the JSON ``PublicKeyCredential*Options`` it expects
    (binary values base64url-encoded, the form ``PublicKeyCredential.parse*OptionsFromJSON``
    and every WebAuthn client library read)."""

    options: dict[str, Any]


# --------------------------------------------------------------------------- helpers


def _uv_required(unit: Unit) -> bool:
    return unit.settings.webauthn_user_verification == "required"


def _uv_requirement(unit: Unit) -> UserVerificationRequirement:
    from webauthn.helpers.structs import UserVerificationRequirement  # first use: memory

    return (
        UserVerificationRequirement.REQUIRED
        if _uv_required(unit)
        else UserVerificationRequirement.PREFERRED
    )


def _base64url(data: bytes) -> str:
    """WebAuthn's unpadded base64url (what py_webauthn's ``bytes_to_base64url`` gives)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _digest(unit: Unit, challenge: bytes) -> bytes:
    return tokens.digest(unit.settings.secret_key, "webauthn:" + _base64url(challenge))


def invalid_credential(message: str = "This is not a valid passkey response.") -> DomainError:
    return DomainError.of(ErrorCode.INVALID, message, CREDENTIAL_FIELD)


def invalid_passkey() -> DomainError:
    """The one answer for an unknown credential, another user's, or a bad signature."""
    return DomainError.of(
        ErrorCode.INVALID_CREDENTIALS, "This passkey was not accepted.", CREDENTIAL_FIELD
    )


def expired_challenge() -> DomainError:
    return DomainError.of(
        ErrorCode.INVALID_TOKEN,
        "This passkey request has expired or was already used: start again.",
        CREDENTIAL_FIELD,
    )


def _transports(value: str) -> list[AuthenticatorTransport]:
    from webauthn.helpers.structs import AuthenticatorTransport  # first use: memory

    known = {t.value: t for t in AuthenticatorTransport}
    return [known[t] for t in value.split(",") if t in known]


def transports_of(row: Passkey) -> list[str]:
    return [t for t in row.transports.split(",") if t]


def _descriptor(row: Passkey) -> PublicKeyCredentialDescriptor:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor  # first use: memory

    return PublicKeyCredentialDescriptor(
        id=row.credential_id, transports=_transports(row.transports)
    )


async def _new_challenge(unit: Unit, *, user_id: int | None, purpose: str) -> bytes:
    now = unit.now()
    challenge = secrets.token_bytes(32)
    await rows.delete_expired_challenges(unit.session, now=now)
    await rows.add_challenge(
        unit.session,
        PasskeyChallenge(
            user_id=user_id,
            purpose=purpose,
            challenge_hash=_digest(unit, challenge),
            created_at=now,
            expires_at=now + CHALLENGE_TTL,
        ),
    )
    return challenge


def _challenge_of(client_data_json: bytes) -> bytes:
    """The challenge an answer claims to answer (verification then checks it is the one
    signed); INVALID when the client data is not WebAuthn client data at all."""
    from webauthn.helpers import parse_client_data_json  # first use: memory

    try:
        return parse_client_data_json(client_data_json).challenge
    except _input_errors():
        raise invalid_credential() from None


async def _consume(unit: Unit, *, challenge: bytes, purpose: str) -> PasskeyChallenge:
    row = await rows.consume_challenge(
        unit.session, challenge_hash=_digest(unit, challenge), purpose=purpose, now=unit.now()
    )
    if row is None:
        raise expired_challenge()
    return row


async def _user_handle(unit: Unit, user: User) -> bytes:
    handle = await rows.handle_of(unit.session, user.id)
    if handle is None:
        handle = secrets.token_bytes(32)
        await rows.add_handle(unit.session, user_id=user.id, handle=handle)
    return handle


def _clean_name(name: str | None) -> str:
    cleaned = (name or "").strip() or DEFAULT_NAME
    if len(cleaned) > MAX_NAME_LENGTH:
        raise DomainError.of(ErrorCode.TOO_LONG, f"At most {MAX_NAME_LENGTH} characters.", "name")
    return cleaned


# --------------------------------------------------------------------------- registration


async def _link_user(unit: Unit, *, token: str, use: bool) -> User:
    """The account of a live set-password (or reset) link: the mailed link may register a
    passkey instead of setting a password. ``use`` spends it (the ceremony's last step)."""
    if use:
        row = await ott.consume(unit, token=token, purpose=TokenPurpose.PASSWORD_RESET)
    else:
        row = await ott.peek(unit, token=token, purpose=TokenPurpose.PASSWORD_RESET)
    user = await user_rows.get_by_id(unit.session, row.user_id)
    if user is None or not user.active or not owns_address(user, row.new_email):
        raise ott.invalid_token()
    return user


async def _registering_user(
    unit: Unit,
    *,
    viewer: Viewer | None,
    token: str | None,
    proof: reauth.Proof,
) -> User:
    """Whose passkey this is: the link's account, or the viewer's after the recent-
    authentication rule (whoever adds a passkey can sign in as the owner from then on)."""
    if token is not None:
        return await _link_user(unit, token=token, use=False)
    me = require(viewer, scope=PROFILE_WRITE)
    await reauth.require_recent_auth(unit, viewer=me, proof=proof)
    return me.user


async def start_registration(
    unit: Unit,
    *,
    viewer: Viewer | None,
    token: str | None = None,
    proof: reauth.Proof = reauth.NO_PROOF,
) -> Ceremony:
    """Creation options for a new passkey of the viewer, or (``token``) of the account a
    set-password link was mailed for."""
    # py_webauthn on first use, for memory (see the note at the top)
    from webauthn import generate_registration_options
    from webauthn.helpers import options_to_json_dict
    from webauthn.helpers.structs import AuthenticatorSelectionCriteria, ResidentKeyRequirement

    user = await _registering_user(
        unit,
        viewer=viewer,
        token=token,
        proof=proof,
    )
    existing = await rows.list_for_user(unit.session, user.id)
    if len(existing) >= MAX_PASSKEYS:
        raise DomainError.of(
            ErrorCode.OUT_OF_RANGE, f"An account can have at most {MAX_PASSKEYS} passkeys."
        )
    handle = await _user_handle(unit, user)
    challenge = await _new_challenge(unit, user_id=user.id, purpose=REGISTRATION)
    options = generate_registration_options(
        rp_id=unit.settings.passkey_rp_id,
        rp_name=unit.settings.webauthn_rp_name,
        user_id=handle,
        user_name=user.username,
        user_display_name=user.name,
        challenge=challenge,
        timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=_uv_requirement(unit),
        ),
        exclude_credentials=[_descriptor(row) for row in existing],
    )
    return Ceremony(options=options_to_json_dict(options))


def _parse_registration(credential: Any) -> RegistrationCredential:
    from webauthn.helpers import parse_registration_credential_json  # first use: memory

    if not isinstance(credential, dict):
        raise invalid_credential("Send the credential navigator.credentials.create() gave.")
    try:
        return parse_registration_credential_json(credential)
    except _input_errors():
        raise invalid_credential() from None


async def finish_registration(
    unit: Unit,
    *,
    viewer: Viewer | None,
    credential: Any,
    name: str | None = None,
    token: str | None = None,
) -> Passkey:
    """Verify the attestation (``none``, or a format the library verifies: packed, TPM,
    Android, Apple, FIDO U2F) and store the passkey under ``name``. With ``token`` (a
    set-password link) the link is spent, like ``resetPassword`` spends it, and, having
    reached its address, it proves that address (a passwordless sign-up's only proof)."""
    # py_webauthn on first use, for memory (see the note at the top)
    from webauthn import verify_registration_response
    from webauthn.helpers.structs import CredentialDeviceType

    user = (
        await _link_user(unit, token=token, use=True)
        if token is not None
        else require(viewer, scope=PROFILE_WRITE).user
    )
    cleaned = _clean_name(name)
    parsed = _parse_registration(credential)
    challenge = _challenge_of(parsed.response.client_data_json)
    row = await _consume(unit, challenge=challenge, purpose=REGISTRATION)
    if row.user_id != user.id:
        raise expired_challenge()
    settings = unit.settings
    try:
        verified = await asyncio.to_thread(
            verify_registration_response,
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=settings.passkey_rp_id,
            expected_origin=list(settings.passkey_origins),
            require_user_verification=_uv_required(unit),
        )
    except _input_errors() as exc:
        log.info("passkey registration refused", extra={"reason": str(exc)[:200]})
        raise invalid_credential() from None
    if await rows.get_by_credential_id(unit.session, verified.credential_id) is not None:
        raise DomainError.of(
            ErrorCode.INVALID, "This passkey is already registered.", CREDENTIAL_FIELD
        )
    if token is not None:
        await _link_used(unit, user)
    transports = [t.value for t in parsed.response.transports or []]
    added = await rows.add(
        unit.session,
        Passkey(
            user_id=user.id,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=",".join(transports)[:200],
            aaguid=verified.aaguid,
            backup_eligible=verified.credential_device_type is CredentialDeviceType.MULTI_DEVICE,
            backed_up=verified.credential_backed_up,
            name=cleaned,
            created_at=unit.now(),
        ),
    )
    await events.record(
        unit,
        type=EventType.PASSKEY_ADDED,
        subject_id=user.id,
        viewer=viewer if token is None else None,
        actor_id=user.id,
        detail={"passkeyId": added.id, "name": added.name, "viaLink": token is not None},
    )
    await security_alerts.credential_added(
        unit, user=user, kind=security_alerts.Alert.PASSKEY, name=added.name
    )
    return added


async def _link_used(unit: Unit, user: User) -> None:
    """A set-password link registered a passkey: older links die, and the address the link
    reached is proven (the admins are told of an account now awaiting them, as
    ``verifyEmail`` would)."""
    await ott.invalidate(unit, user_id=user.id, purposes=(TokenPurpose.PASSWORD_RESET,))
    if not user.email_verified:
        user.email_verified = True
        user.updated_at = unit.now()
        await unit.session.flush()
        if user.pending_admin_approval:
            await notices.approval_requested(unit, user=user)


# --------------------------------------------------------------------------- sign-in


def _decoy_id(unit: Unit, username: str) -> bytes:
    """A stable credential id for a name that has no passkeys: the same name always gets
    the same one, so repeating the request cannot tell a decoy from a real credential."""
    key = unit.settings.secret_key.encode()
    message = b"webauthn-decoy:" + username.strip().lower().encode()
    return hmac.new(key, message, hashlib.sha256).digest()


async def start_login(unit: Unit, *, username: str | None = None) -> Ceremony:
    """Request options. Without a username, for a discoverable credential (the browser
    offers the passkeys it holds for this site); with one, listing that user's passkeys."""
    # py_webauthn on first use, for memory (see the note at the top)
    from webauthn import generate_authentication_options
    from webauthn.helpers import options_to_json_dict
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

    user: User | None = None
    allowed: list[PublicKeyCredentialDescriptor] = []
    wanted = (username or "").strip()
    if len(wanted) > 320:
        raise DomainError.of(ErrorCode.TOO_LONG, "At most 320 characters.", "username")
    if wanted:
        user = await login.find_user(unit, wanted)
        if user is not None:
            allowed = [_descriptor(row) for row in await rows.list_for_user(unit.session, user.id)]
        if not allowed:
            allowed = [PublicKeyCredentialDescriptor(id=_decoy_id(unit, wanted))]
    challenge = await _new_challenge(
        unit, user_id=user.id if user is not None else None, purpose=LOGIN
    )
    options = generate_authentication_options(
        rp_id=unit.settings.passkey_rp_id,
        challenge=challenge,
        timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
        allow_credentials=allowed,
        user_verification=_uv_requirement(unit),
    )
    return Ceremony(options=options_to_json_dict(options))


def _parse_assertion(credential: Any) -> AuthenticationCredential:
    from webauthn.helpers import parse_authentication_credential_json  # first use: memory

    if not isinstance(credential, dict):
        raise invalid_credential("Send the credential navigator.credentials.get() gave.")
    try:
        return parse_authentication_credential_json(credential)
    except _input_errors():
        raise invalid_credential() from None


def _counter_went_back(stored: int, seen: int) -> bool:
    """WebAuthn's rule: a counter in use (either side non-zero) must increase."""
    return (stored > 0 or seen > 0) and seen <= stored


async def finish_login(
    unit: Unit,
    *,
    credential: Any,
    client_address: str,
    user_agent: str | None = None,
) -> login.LoginResult:
    """Verify an assertion and sign its passkey's owner in, exactly as ``login`` would
    after a correct password: a session, or an MFA challenge when the user has TOTP on and
    the passkey did not verify the user.

    Like ``login``, everything is read first, then the connection is released for the rate
    limiter's own transaction (on SQLite it must not wait for this request's write lock),
    and this request writes only once the assertion is proven and its attempt settled.

    A refusal once the answer parsed is a failed sign-in (or lockout) of the passkey's
    owner, or of no account for an unknown credential (``security_events.record_failure``);
    a malformed answer is bad input, like an empty password field."""
    parsed = _parse_assertion(credential)
    challenge = _challenge_of(parsed.response.client_data_json)
    passkey = await rows.get_by_credential_id(unit.session, parsed.raw_id)
    user = await user_rows.get_by_id(unit.session, passkey.user_id) if passkey else None
    async with events.SignInFailures(unit, SignInMethod.PASSKEY, user.id if user else None):
        return await _sign_in(
            unit,
            parsed=parsed,
            challenge=challenge,
            passkey=passkey,
            user=user,
            client_address=client_address,
            user_agent=user_agent,
        )


async def _sign_in(
    unit: Unit,
    *,
    parsed: AuthenticationCredential,
    challenge: bytes,
    passkey: Passkey | None,
    user: User | None,
    client_address: str,
    user_agent: str | None,
) -> login.LoginResult:
    """The rest of ``finish_login`` once the credential was looked up."""
    challenge_hash = _digest(unit, challenge)
    now = unit.now()
    ceremony = await rows.find_challenge(
        unit.session, challenge_hash=challenge_hash, purpose=LOGIN, now=now
    )
    handle = await rows.handle_of(unit.session, user.id) if user is not None else None
    account_key = (
        ratelimit.user_key(user)
        if user is not None
        else ratelimit.account_key("passkey:" + _base64url(parsed.raw_id)[:64])
    )
    await unit.release()  # no connection held while the rate limiter writes
    await ratelimit.refuse_if_locked(unit, account_key=account_key, client_address=client_address)
    attempt = await ratelimit.begin_attempt(
        unit, account_key=account_key, client_address=client_address
    )
    if ceremony is None:
        raise expired_challenge()
    if passkey is None or user is None:
        raise invalid_passkey()
    if ceremony.user_id is not None and ceremony.user_id != user.id:
        raise invalid_passkey()
    if parsed.response.user_handle and parsed.response.user_handle != handle:
        raise invalid_passkey()
    verified = await _verify_assertion(unit, parsed, challenge, passkey)
    if _counter_went_back(passkey.sign_count, verified.new_sign_count):
        _log_clone(user, passkey, verified.new_sign_count)
        raise invalid_passkey()
    needs_code = user.mfa_enabled and not verified.user_verified
    if needs_code:  # the account's count resets only once the code is right too
        await ratelimit.released(unit, attempt=attempt)
    else:
        await ratelimit.succeeded(unit, attempt=attempt, user=user)
    await login.check_can_sign_in(unit, user)
    if not await rows.consume_challenge(  # a concurrent finish with the same challenge won
        unit.session, challenge_hash=challenge_hash, purpose=LOGIN, now=now
    ):
        raise expired_challenge()
    if not await rows.record_use(
        unit.session,
        passkey_id=passkey.id,
        seen_count=passkey.sign_count,
        new_count=verified.new_sign_count,
        backed_up=verified.credential_backed_up,
        now=now,
    ):  # another sign-in moved the counter meanwhile: the same rule, lost in a race
        _log_clone(user, passkey, verified.new_sign_count)
        raise invalid_passkey()
    if needs_code:
        return login.LoginResult(user=user, mfa_token=await mfa.start_challenge(unit, user=user))
    issued = await login.finish_login(
        unit,
        user=user,
        user_agent=user_agent,
        client_address=client_address,
        method=SignInMethod.PASSKEY,
    )
    return login.LoginResult(user=user, session=issued)


async def _verify_assertion(
    unit: Unit, parsed: AuthenticationCredential, challenge: bytes, passkey: Passkey
) -> VerifiedAuthentication:
    from webauthn import verify_authentication_response  # first use: memory

    settings = unit.settings
    try:
        return await asyncio.to_thread(
            verify_authentication_response,
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=settings.passkey_rp_id,
            expected_origin=list(settings.passkey_origins),
            credential_public_key=passkey.public_key,
            credential_current_sign_count=0,  # the counter rule is ours, to log clones
            require_user_verification=_uv_required(unit),
        )
    except _input_errors() as exc:
        log.info("passkey sign-in refused", extra={"reason": str(exc)[:200]})
        raise invalid_passkey() from None


def _log_clone(user: User, passkey: Passkey, seen: int) -> None:
    audit.warning(
        "passkey signature counter did not increase: possibly a cloned authenticator",
        extra={
            "event": "passkey_clone_suspected",
            "user_id": user.id,
            "passkey_id": passkey.id,
            "stored_count": passkey.sign_count,
            "seen_count": seen,
        },
    )


# --------------------------------------------------------------------------- management


async def list_passkeys(unit: Unit, *, viewer: Viewer) -> Sequence[Passkey]:
    return await rows.list_for_user(unit.session, viewer.user_id)


async def count_passkeys(unit: Unit, *, user_id: int) -> int:
    return await rows.count_for_user(unit.session, user_id)


def _passkey_not_found() -> DomainError:
    return DomainError.of(ErrorCode.NOT_FOUND, "There is no such passkey.", "id")


async def _own_passkey(unit: Unit, viewer: Viewer, passkey_id: int | None) -> Passkey:
    row = (
        await rows.get_for_user(unit.session, passkey_id=passkey_id, user_id=viewer.user_id)
        if passkey_id is not None
        else None
    )
    if row is None:  # another user's passkey is simply not found
        raise _passkey_not_found()
    return row


async def rename_passkey(
    unit: Unit, *, viewer: Viewer | None, passkey_id: int | None, name: str
) -> Passkey:
    me = require(viewer, scope=PROFILE_WRITE)
    if not name.strip():
        raise DomainError.of(ErrorCode.REQUIRED, "Give the passkey a name.", "name")
    cleaned = _clean_name(name)
    row = await _own_passkey(unit, me, passkey_id)
    row.name = cleaned
    await unit.session.flush()
    return row


async def delete_passkey(
    unit: Unit,
    *,
    viewer: Viewer | None,
    passkey_id: int | None,
    proof: reauth.Proof = reauth.NO_PROOF,
) -> Passkey:
    """Remove one of the viewer's passkeys, under the recent-authentication rule, unless it
    is their last way to sign in (LAST_SIGN_IN_METHOD)."""
    me = require(viewer, scope=PROFILE_WRITE)
    row = await _own_passkey(unit, me, passkey_id)
    await reauth.require_recent_auth(unit, viewer=me, proof=proof)
    await sign_in_methods.require_another(unit.session, user_id=me.user_id, field="id")
    await rows.delete_one(unit.session, row)
    await events.record(
        unit,
        type=EventType.PASSKEY_REMOVED,
        subject_id=me.user_id,
        viewer=me,
        detail={"passkeyId": row.id, "name": row.name},
    )
    return row


async def user_passkeys(unit: Unit, *, viewer: Viewer | None, user_id: int | None) -> list[Passkey]:
    """An administrator's view of a user's passkeys (empty for no such user)."""
    require_admin(viewer, USERS_READ)
    if user_id is None:
        return []
    return list(await rows.list_for_user(unit.session, user_id))


async def revoke_user_passkeys(unit: Unit, *, viewer: Viewer | None, user_id: int | None) -> int:
    """Remove every passkey of a user (a lost or stolen device). The user can still sign in
    with a password, or with a set-password link an administrator sends."""
    admin = require_admin(viewer)
    user = await user_rows.get_by_id(unit.session, user_id) if user_id is not None else None
    if user is None:
        raise not_found()
    revoked = await rows.delete_for_user(unit.session, user.id)
    await events.record(
        unit,
        type=EventType.ADMIN_PASSKEYS_REVOKED,
        subject_id=user.id,
        viewer=admin,
        detail={"passkeys": revoked},
    )
    admin_id, target_id = admin.user_id, user.id
    unit.after_commit(
        lambda: audit.info(
            "passkeys revoked by an administrator",
            extra={
                "event": "passkeys_revoked",
                "admin_id": admin_id,
                "user_id": target_id,
                "count": revoked,
            },
        )
    )
    return revoked
