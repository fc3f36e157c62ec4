"""Enumerations stored in the database. The values are what the columns hold (lower-case, as in
the seed); the GraphQL layer exposes the member names."""

from __future__ import annotations

import enum


class AccessType(enum.Enum):
    REGULAR = "regular"
    ADMIN = "admin"


class Gender(enum.Enum):
    MALE = "male"
    FEMALE = "female"
    UNSPECIFIED = "unspecified"


class Units(enum.Enum):
    METRIC = "metric"
    IMPERIAL = "imperial"


class Currency(enum.Enum):
    EURO = "euro"
    DOLLAR = "dollar"
    POUND = "pound"


class WeekDay(enum.Enum):
    SUNDAY = "sunday"
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"


class Language(enum.Enum):
    """The seed's 13 language codes."""

    CA = "ca"
    CN = "cn"
    TW = "tw"
    DE = "de"
    FR = "fr"
    GL = "gl"
    IT = "it"
    NL = "nl"
    PT = "pt"
    SL = "sl"
    SV = "sv"
    ES = "es"
    US = "us"


class ActivityVisibility(enum.Enum):
    PUBLIC = "public"
    FOLLOWERS = "followers"
    PRIVATE = "private"


class PasswordPolicy(enum.Enum):
    LENGTH_ONLY = "length_only"
    STRICT = "strict"


class TokenPurpose(enum.Enum):
    """What a one-time token may be used for; a token of one purpose is useless for another."""

    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"
    EMAIL_CHANGE = "email_change"
    MFA_LOGIN = "mfa_login"
