"""Bringing accounts over from another tracker with their password hashes
(``stridegraph import-users FILE``): the only way a password hash made elsewhere enters
the database.

The file is JSON Lines, one account an object: the seed's ``UsersBase`` fields
(``username``, ``email``, ``name`` required; ``city``, ``birthdate``, ``preferred_language``,
``gender``, ``units``, ``height``, ``max_heart_rate``, ``first_day_of_week``, ``currency``
optional), ``password_hash`` (required) and ``created_at`` (optional, ISO 8601). Enum values
are the stored values or the GraphQL names, in any letter case (``"pt"``, ``"PT"``).

- Hashes: argon2 (any variant, as argon2-cffi and pwdlib write them) and bcrypt (as
  FitTrackee's flask-bcrypt and pwdlib write them), within cost bounds (``passwords``).
  They are checked at the account's first sign-in and replaced by a current argon2id hash.
- All or nothing per file: one refused row and nothing is written; a dry run checks every
  row and writes nothing. The report names each refused row (its line) and why.
- A row whose username and e-mail already name one account is that account, imported
  before: it is skipped, so a second run makes no duplicates.
- Imported accounts are active and count as verified: the tracker they come from vouched
  for them, as an administrator does with ``createUser``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stridegraph.db import users as user_rows
from stridegraph.db.enums import Currency, Gender, Language, Units, WeekDay
from stridegraph.domain.accounts import NewAccount, create_account
from stridegraph.domain.errors import DomainError
from stridegraph.domain.passwords import importable_hash
from stridegraph.domain.unit import Services, Unit, open_unit

REQUIRED = ("username", "email", "name", "password_hash")
TEXT = ("username", "email", "name", "city")
NUMBERS = ("height", "max_heart_rate")
ENUMS: dict[str, type[enum.Enum]] = {
    "preferred_language": Language,
    "gender": Gender,
    "units": Units,
    "first_day_of_week": WeekDay,
    "currency": Currency,
}
ALLOWED = frozenset((*REQUIRED, *TEXT, *NUMBERS, *ENUMS, "birthdate", "created_at"))


@dataclass(frozen=True)
class Refusal:
    """A row that cannot be imported: its line in the file and every reason."""

    line: int
    username: str | None
    reasons: tuple[str, ...]


@dataclass
class ImportReport:
    dry_run: bool
    created: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def written(self) -> bool:
        """Whether the accounts in ``created`` are now in the database."""
        return not self.dry_run and not self.refused


class _RollBack(Exception):
    """Raised to end the transaction without writing (a refusal, or a dry run)."""


def _enum(kind: type[enum.Enum], value: object) -> enum.Enum | None:
    if not isinstance(value, str):
        return None
    for member in kind:
        if value.lower() in (member.value, member.name.lower()):
            return member
    return None


def _parse(obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The row's values in stored form, and what is wrong with its shape (types, unknown
    or missing fields); the account rules are ``create_account``'s."""
    reasons = [f"unknown field {key!r}" for key in obj if key not in ALLOWED]
    reasons += [f"{key} is required" for key in REQUIRED if obj.get(key) is None]
    values: dict[str, Any] = {}
    for key, value in obj.items():
        if key not in ALLOWED or value is None:
            continue
        if key in (*TEXT, "password_hash"):
            if not isinstance(value, str):
                reasons.append(f"{key} must be a string")
            values[key] = value
        elif key in NUMBERS:
            if not isinstance(value, int) or isinstance(value, bool):
                reasons.append(f"{key} must be a whole number")
            values[key] = value
        elif key in ENUMS:
            member = _enum(ENUMS[key], value)
            if member is None:
                allowed = ", ".join(m.value for m in ENUMS[key])
                reasons.append(f"{key} must be one of {allowed}")
            values[key] = member
        else:
            values[key] = _datetime(key, value, reasons)
    hash_ = values.get("password_hash")
    if isinstance(hash_, str) and not importable_hash(hash_):
        reasons.append("password_hash is not an argon2 or bcrypt hash this server can check")
    return values, reasons


def _datetime(key: str, value: object, reasons: list[str]) -> dt.date | dt.datetime | None:
    try:
        if key == "birthdate":
            return dt.date.fromisoformat(str(value))
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        reasons.append(f"{key} must be an ISO 8601 date" + ("" if key == "birthdate" else "time"))
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


async def _import_row(unit: Unit, values: dict[str, Any], report: ImportReport) -> list[str]:
    """Create one account, or note it as imported before; the reasons it is refused."""
    username, email = values["username"].strip(), values["email"].strip()
    same_name = await user_rows.get_by_username(unit.session, username)
    if same_name is not None:
        same_email = await user_rows.get_by_email(unit.session, email)
        if same_email is not None and same_email.id == same_name.id:
            report.already_present.append(same_name.username)
            return []
    created_at = values.pop("created_at", None)
    if created_at is not None and created_at > unit.now():
        return ["created_at is in the future"]
    account = NewAccount(
        username=username,
        email=email,
        name=values["name"].strip(),
        password=None,
        password_hash=values["password_hash"],
        created_at=created_at,
        email_verified=True,
        profile={k: v for k, v in values.items() if k not in REQUIRED},
    )
    try:
        await create_account(unit, account=account)
    except DomainError as exc:
        return [f"{p.field or 'row'}: {p.message}" for p in exc.problems]
    report.created.append(username)
    return []


async def import_accounts(unit: Unit, *, lines: Iterable[str], report: ImportReport) -> None:
    """Every row of the file in one transaction (see the module docstring); raises
    :class:`_RollBack` when nothing may be written."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            report.refused.append(Refusal(number, None, ("not a JSON object",)))
            continue
        if not isinstance(obj, dict):
            report.refused.append(Refusal(number, None, ("not a JSON object",)))
            continue
        values, reasons = _parse(obj)
        name = values.get("username") if isinstance(values.get("username"), str) else None
        if not reasons:
            reasons = await _import_row(unit, values, report)
        if reasons:
            report.refused.append(Refusal(number, name, tuple(reasons)))
    if report.refused or report.dry_run:
        raise _RollBack


async def import_file(services: Services, *, lines: Iterable[str], dry_run: bool) -> ImportReport:
    """Import a JSON Lines file's accounts (all or nothing) and say what happened."""
    report = ImportReport(dry_run=dry_run)
    async with open_unit(services) as unit:
        with contextlib.suppress(_RollBack):  # the report says what was not written
            await unit.transaction(import_accounts, lines=lines, report=report)
    return report
