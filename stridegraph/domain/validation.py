"""Field rules from the contract and the seed, shared by every mutation that takes them.

Each check adds to a :class:`Collector` so one answer lists every problem.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from stridegraph.domain.errors import Collector, ErrorCode
from stridegraph.domain.profile_fields import PROFILE

#: The seed's rule: letters, digits and dots (ASCII, so ``lower()`` folds them alike on
#: both databases), and not dots alone (``.`` and ``..`` read as paths).
USERNAME_RE = re.compile(r"^(?=.*[A-Za-z0-9])[A-Za-z0-9.]+$")
MAX_TEXT = 250
#: Invisible format characters that join letters in some scripts and in emoji; the other
#: format characters (bidirectional overrides, invisible separators...) are refused.
ALLOWED_FORMAT = frozenset({"\u200c", "\u200d"})


def has_control(value: str) -> bool:
    """Control characters (Cc), surrogates (Cs) and format characters (Cf) other than the
    zero-width (non-)joiners: nothing a person's name or a city needs, and they can hide or
    reorder what an admin reads."""
    return any(
        unicodedata.category(c) in ("Cc", "Cs")
        or (unicodedata.category(c) == "Cf" and c not in ALLOWED_FORMAT)
        for c in value
    )


def check_length(
    errors: Collector, field: str, value: str, *, minimum: int = 1, maximum: int = MAX_TEXT
) -> None:
    if len(value.strip()) < minimum:
        code = ErrorCode.REQUIRED if not value.strip() else ErrorCode.TOO_SHORT
        errors.add(code, f"{field} must have at least {minimum} character(s).", field)
    elif len(value) > maximum:
        errors.add(ErrorCode.TOO_LONG, f"{field} may have at most {maximum} characters.", field)
    elif has_control(value):
        errors.add(ErrorCode.INVALID, f"{field} may not contain control characters.", field)


def check_name(errors: Collector, value: str, field: str = "name") -> None:
    check_length(errors, field, value)


def check_username(errors: Collector, value: str, field: str = "username") -> None:
    before = len(errors.problems)
    check_length(errors, field, value)
    if len(errors.problems) == before and not USERNAME_RE.fullmatch(value):
        errors.add(
            ErrorCode.INVALID,
            "A username may hold only letters, digits and dots, and not dots alone.",
            field,
        )


def check_email(errors: Collector, value: str, field: str = "email") -> None:
    if not value.strip():
        errors.add(ErrorCode.REQUIRED, "An e-mail address is required.", field)
        return
    if len(value) > MAX_TEXT:
        errors.add(ErrorCode.TOO_LONG, f"{field} may have at most {MAX_TEXT} characters.", field)
        return
    # email_validator (with idna) on first use, not at start-up: a worker that serves only
    # reads never checks an address (memory, not an import cycle)
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        errors.add(ErrorCode.INVALID, "This is not a valid e-mail address.", field)


def check_city(errors: Collector, value: str | None, field: str = "city") -> None:
    if value is not None:
        check_length(errors, field, value, minimum=0)


def check_range(errors: Collector, field: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        errors.add(ErrorCode.OUT_OF_RANGE, f"{field} must be between {low} and {high}.", field)


def check_birthdate(
    errors: Collector, value: dt.date | None, today: dt.date, field: str = "birthdate"
) -> None:
    if value is not None and value > today:
        errors.add(ErrorCode.OUT_OF_RANGE, "The birthdate cannot be in the future.", field)


# --------------------------------------------------------------------------- profile changes

#: Profile fields a user (``updateMe``) or an admin (``updateUser``, ``createUser``) may set.
PROFILE_FIELDS: tuple[str, ...] = tuple(f.name for f in PROFILE)
#: Fields that may not be null: giving null is REQUIRED, leaving them out keeps them.
NOT_NULL = frozenset(
    {f.name for f in PROFILE if not f.nullable} | {"access_type", "active", "email_verified"}
)
TEXT_FIELDS = tuple(f.name for f in PROFILE if f.text)


def normalise_profile(changes: dict[str, Any]) -> dict[str, Any]:
    """Trim surrounding blanks from text fields; an empty city means no city."""
    out = dict(changes)
    for key in TEXT_FIELDS:
        if isinstance(out.get(key), str):
            out[key] = out[key].strip()
    if out.get("city") == "":
        out["city"] = None
    return out


def check_profile(errors: Collector, changes: dict[str, Any], today: dt.date) -> None:
    """Every rule of the contract and the seed for the profile fields present in ``changes``."""
    for key, value in changes.items():
        if value is None and key in NOT_NULL:
            errors.add(ErrorCode.REQUIRED, f"{key} cannot be null.", key)
    checks: dict[str, Callable[[Any], None]] = {
        "name": lambda v: check_name(errors, v),
        "username": lambda v: check_username(errors, v),
        "email": lambda v: check_email(errors, v),
        "city": lambda v: check_city(errors, v),
        "birthdate": lambda v: check_birthdate(errors, v, today),
    }
    for key, check in checks.items():
        if changes.get(key) is not None:
            check(changes[key])
    for declared in PROFILE:  # the numbers' bounds come from the declaration
        if declared.bounds is not None and changes.get(declared.name) is not None:
            check_range(errors, declared.name, changes[declared.name], *declared.bounds)
