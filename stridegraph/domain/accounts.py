"""Creating accounts: the one path every way of making a user goes through (admin CLI,
admin ``createUser``, ``signUp``), so the rules and default rows are never skipped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stridegraph.db import settings as settings_rows
from stridegraph.db import users as user_rows
from stridegraph.db.enums import AccessType
from stridegraph.db.keys import email_key
from stridegraph.db.models import User
from stridegraph.domain.errors import Collector, DomainError, ErrorCode
from stridegraph.domain.passwords import check_password_policy
from stridegraph.domain.unit import Unit
from stridegraph.domain.validation import (
    PROFILE_FIELDS,
    check_email,
    check_name,
    check_profile,
    check_username,
    normalise_profile,
)


@dataclass(frozen=True)
class NewAccount:
    username: str
    email: str
    name: str
    password: str | None
    access_type: AccessType = AccessType.REGULAR
    active: bool = True
    email_verified: bool = False
    pending_admin_approval: bool = False
    #: Further profile fields (city, birthdate, preferences...), validated like ``updateUser``.
    profile: Mapping[str, Any] = field(default_factory=dict)
    #: A hash made elsewhere (``domain/account_import.py``), stored as it is instead of
    #: hashing ``password``; the next sign-in replaces it with a current one.
    password_hash: str | None = None
    #: When the account was made, when it was made elsewhere; now otherwise.
    created_at: dt.datetime | None = None
    #: False: store ``email`` without owning it (no key, so never found, matched or verified
    #: by address); a sign-up with a taken address (``domain/signup.py``).
    claim_email: bool = True


def owns_address(user: User, address: str | None) -> bool:
    """Whether ``address`` is ``user``'s own, in any case or Unicode form (a link mailed to
    an old address, or to an address the account does not own, proves nothing)."""
    return address is not None and user.email_key == email_key(address)


def taken(column: str) -> DomainError:
    if column == "username":
        return DomainError.of(ErrorCode.USERNAME_TAKEN, "This username is taken.", "username")
    return DomainError.of(ErrorCode.EMAIL_TAKEN, "This e-mail address is in use.", "email")


async def check_password(
    unit: Unit,
    password: str,
    *,
    access_type: AccessType,
    username: str | None,
    email: str | None,
    field: str = "password",
) -> None:
    """Apply the server's password policy for an account of ``access_type``."""
    stored = await settings_rows.get(unit.session)
    check_password_policy(
        password,
        access_type=access_type,
        policy=stored.password_policy,
        min_length_regular=stored.password_min_length_regular,
        min_length_admin=stored.password_min_length_admin,
        username=username,
        email=email,
        field=field,
    )


async def set_password(unit: Unit, *, user: User, password: str, field: str = "password") -> None:
    """Give ``user`` a new password: the server's policy for the user's role (errors on
    ``field``), a fresh argon2id hash, and the change time. The one path for a change by
    the user, by a reset link and by an administrator; ending credentials is the caller's
    choice (each path ends different ones)."""
    await check_password(
        unit,
        password,
        access_type=user.access_type,
        username=user.username,
        email=user.email,
        field=field,
    )
    password_hash = await unit.services.passwords.hash(password)
    now = unit.now()
    user.password_hash = password_hash
    user.password_changed_at = now
    user.updated_at = now
    await unit.session.flush()


async def create_account(unit: Unit, *, account: NewAccount) -> User:
    """Validate and insert; USERNAME_TAKEN / EMAIL_TAKEN hold even under concurrent creates
    because the database's unique indexes decide."""
    errors = Collector()
    check_username(errors, account.username)
    check_email(errors, account.email)
    check_name(errors, account.name)
    profile = normalise_profile({k: v for k, v in account.profile.items() if k in PROFILE_FIELDS})
    for key in ("username", "email", "name"):
        profile.pop(key, None)
    check_profile(errors, profile, unit.now().date())
    errors.raise_if_any()
    if account.password is not None:
        await check_password(
            unit,
            account.password,
            access_type=account.access_type,
            username=account.username,
            email=account.email,
        )
    if await user_rows.username_taken(unit.session, account.username):
        raise taken("username")
    if account.claim_email and await user_rows.email_taken(unit.session, account.email):
        raise taken("email")
    password_hash = account.password_hash
    if account.password:
        await unit.release()  # only read so far: no pooled connection held while queued
        password_hash = await unit.services.passwords.hash(account.password)
    now = unit.now()
    user = User(
        username=account.username,
        email=account.email,
        name=account.name,
        password_hash=password_hash,
        access_type=account.access_type,
        active=account.active,
        email_verified=account.email_verified,
        pending_admin_approval=account.pending_admin_approval,
        password_changed_at=now if password_hash else None,
        created_at=account.created_at or now,
        updated_at=now,
    )
    for key, value in profile.items():
        setattr(user, key, value)
    if not account.claim_email:
        user.email_key = None
    try:
        return await user_rows.insert_user(unit.session, user)
    except user_rows.UniqueViolation as exc:
        raise taken(exc.column) from None


async def save_profile(unit: Unit, *, user: User, changes: Mapping[str, Any]) -> User:
    """Validate ``changes`` (profile fields present in the request) and apply them to ``user``.

    USERNAME_TAKEN / EMAIL_TAKEN are checked first for a clear answer, and the unique indexes
    still decide under concurrency (the flush maps their violation to the same errors)."""
    wanted = normalise_profile(dict(changes))
    errors = Collector()
    check_profile(errors, wanted, unit.now().date())
    errors.raise_if_any()
    username, email = wanted.get("username"), wanted.get("email")
    if username is not None and await user_rows.username_taken(
        unit.session, username, exclude_id=user.id
    ):
        raise taken("username")
    if email is not None and await user_rows.email_taken(unit.session, email, exclude_id=user.id):
        raise taken("email")
    for key, value in wanted.items():
        setattr(user, key, value)
    user.updated_at = unit.now()
    try:
        await user_rows.flush_unique(unit.session)
    except user_rows.UniqueViolation as exc:
        raise taken(exc.column) from None
    return user
