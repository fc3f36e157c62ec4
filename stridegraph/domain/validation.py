"""Field rules from the contract and the seed, shared by every mutation that takes them.

Each check adds to a :class:`Collector` so one answer lists every problem.
"""

from __future__ import annotations

import datetime as dt
import re

from email_validator import EmailNotValidError, validate_email

from stridegraph.domain.errors import Collector, ErrorCode

USERNAME_RE = re.compile(r"^[A-Za-z0-9.]+$")
MAX_TEXT = 250


def check_length(
    errors: Collector, field: str, value: str, *, minimum: int = 1, maximum: int = MAX_TEXT
) -> None:
    if len(value.strip()) < minimum:
        code = ErrorCode.REQUIRED if not value.strip() else ErrorCode.TOO_SHORT
        errors.add(code, f"{field} must have at least {minimum} character(s).", field)
    elif len(value) > maximum:
        errors.add(ErrorCode.TOO_LONG, f"{field} may have at most {maximum} characters.", field)


def check_name(errors: Collector, value: str, field: str = "name") -> None:
    check_length(errors, field, value)


def check_username(errors: Collector, value: str, field: str = "username") -> None:
    before = len(errors.problems)
    check_length(errors, field, value)
    if len(errors.problems) == before and not USERNAME_RE.fullmatch(value):
        errors.add(ErrorCode.INVALID, "A username may hold only letters, digits and dots.", field)


def check_email(errors: Collector, value: str, field: str = "email") -> None:
    if not value.strip():
        errors.add(ErrorCode.REQUIRED, "An e-mail address is required.", field)
        return
    if len(value) > MAX_TEXT:
        errors.add(ErrorCode.TOO_LONG, f"{field} may have at most {MAX_TEXT} characters.", field)
        return
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        errors.add(ErrorCode.INVALID, "This is not a valid e-mail address.", field)


def check_city(errors: Collector, value: str | None, field: str = "city") -> None:
    if value is not None and len(value) > MAX_TEXT:
        errors.add(ErrorCode.TOO_LONG, f"{field} may have at most {MAX_TEXT} characters.", field)


def check_range(errors: Collector, field: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        errors.add(ErrorCode.OUT_OF_RANGE, f"{field} must be between {low} and {high}.", field)


def check_birthdate(
    errors: Collector, value: dt.date | None, today: dt.date, field: str = "birthdate"
) -> None:
    if value is not None and value > today:
        errors.add(ErrorCode.OUT_OF_RANGE, "The birthdate cannot be in the future.", field)
