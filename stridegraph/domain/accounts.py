"""Creating accounts: the one path every way of making a user goes through (admin CLI,
admin ``createUser``, ``signUp``), so the rules and default rows are never skipped."""

from __future__ import annotations

from dataclasses import dataclass

from stridegraph.db import settings as settings_rows
from stridegraph.db import users as user_rows
from stridegraph.db.enums import AccessType
from stridegraph.db.models import User
from stridegraph.domain.errors import Collector, DomainError, ErrorCode
from stridegraph.domain.passwords import check_password_policy
from stridegraph.domain.unit import Unit
from stridegraph.domain.validation import check_email, check_name, check_username


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


async def create_account(unit: Unit, *, account: NewAccount) -> User:
    """Validate and insert; USERNAME_TAKEN / EMAIL_TAKEN hold even under concurrent creates
    because the database's unique indexes decide."""
    errors = Collector()
    check_username(errors, account.username)
    check_email(errors, account.email)
    check_name(errors, account.name)
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
    if await user_rows.email_taken(unit.session, account.email):
        raise taken("email")
    password_hash = (
        await unit.services.passwords.hash(account.password) if account.password else None
    )
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
        created_at=now,
        updated_at=now,
    )
    try:
        return await user_rows.insert_user(unit.session, user)
    except user_rows.UniqueViolation as exc:
        raise taken(exc.column) from None
