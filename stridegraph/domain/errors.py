"""Typed domain errors. ``graph`` turns them into ``UserError``s (payload data, not exceptions)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ErrorCode(enum.Enum):
    """Every error code a mutation may return (the contract's list, plus a few more)."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_SHORT = "TOO_SHORT"
    TOO_LONG = "TOO_LONG"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    USERNAME_TAKEN = "USERNAME_TAKEN"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    NOT_FOUND = "NOT_FOUND"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    ACCOUNT_INACTIVE = "ACCOUNT_INACTIVE"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    PASSWORD_TOO_WEAK = "PASSWORD_TOO_WEAK"
    INVALID_TOKEN = "INVALID_TOKEN"
    INVALID_CODE = "INVALID_CODE"
    MFA_ALREADY_ENABLED = "MFA_ALREADY_ENABLED"
    MFA_NOT_ENABLED = "MFA_NOT_ENABLED"
    SIGNUP_DISABLED = "SIGNUP_DISABLED"
    LAST_ADMIN = "LAST_ADMIN"
    CANNOT_MODIFY_SELF = "CANNOT_MODIFY_SELF"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    UNSUPPORTED_IMAGE = "UNSUPPORTED_IMAGE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    MAIL_DISABLED = "MAIL_DISABLED"
    SCOPE_NOT_ALLOWED = "SCOPE_NOT_ALLOWED"
    REAUTHENTICATION_REQUIRED = "REAUTHENTICATION_REQUIRED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    IDENTITY_ALREADY_LINKED = "IDENTITY_ALREADY_LINKED"
    LAST_SIGN_IN_METHOD = "LAST_SIGN_IN_METHOD"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request. ``field`` is the input field's name in snake_case
    (``graph`` camel-cases it) or None when the problem is not about one field."""

    code: ErrorCode
    message: str
    field: str | None = None
    retry_after_seconds: int | None = None


class DomainError(Exception):
    """A rule refused the request. Carries one or more problems; nothing was changed."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems: tuple[Problem, ...] = problems

    @classmethod
    def of(cls, code: ErrorCode, message: str, field: str | None = None) -> DomainError:
        return cls(Problem(code, message, field))


#: ``extensions.reason`` of an UNAUTHENTICATED error for a bearer token that is no longer
#: live but whose session can still be refreshed (or an API token past its expiry): the
#: client should refresh (or make a new token), not ask the user to sign in again.
TOKEN_EXPIRED = "TOKEN_EXPIRED"
#: ... and for any other bad token (unknown, malformed, revoked, its account deactivated, or
#: a session past its refresh expiry): the client must sign in again.
TOKEN_INVALID = "TOKEN_INVALID"


class Unauthenticated(Exception):
    """No valid viewer: a missing session where one is needed, or a bad bearer token.

    ``reason`` is set for a bad token (:data:`TOKEN_EXPIRED` or :data:`TOKEN_INVALID`) and
    None where no credential was given at all."""

    def __init__(self, message: str = "You must be signed in.", *, reason: str | None = None):
        super().__init__(message)
        self.reason = reason


class Forbidden(Exception):
    """The viewer lacks the role or scope for this operation."""


class Collector:
    """Gathers validation problems so one answer lists all of them, then raises once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        self.problems.append(Problem(code, message, field))

    def raise_if_any(self) -> None:
        if self.problems:
            raise DomainError(*self.problems)
