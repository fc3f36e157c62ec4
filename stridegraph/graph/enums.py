"""GraphQL enums over the stored enums (GraphQL shows the member names).

The stored enums stay free of strawberry (``db`` and ``domain`` never import it), so their
members' client descriptions are given here, where each GraphQL enum is declared, through
:func:`described_enum`."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

import strawberry
from strawberry.types.enum import StrawberryEnumDefinition

from stridegraph.db import enums

E = TypeVar("E", bound=type[enum.Enum])


def described_enum(cls: E, *, name: str, description: str, values: Mapping[str, str]) -> E:
    """``strawberry.enum(cls)`` with a client description on each member (by member name).

    The members' names and values are untouched: only the GraphQL definition gets the texts.
    A name that is not a member is a ``ValueError`` at import, so a rename cannot leave a
    description behind; a member left out stays undescribed, which
    tests/test_sdl_descriptions.py reports."""
    wrapped = strawberry.enum(cls, name=name, description=description)
    definition: StrawberryEnumDefinition = wrapped.__strawberry_definition__  # type: ignore[attr-defined]
    unknown = set(values) - {value.name for value in definition.values}
    if unknown:
        raise ValueError(f"{name} has no members {sorted(unknown)}")
    for value in definition.values:
        value.description = values.get(value.name, value.description)
    return wrapped


AccessType = described_enum(
    enums.AccessType,
    name="AccessType",
    description="A user's role: REGULAR, or ADMIN (manages accounts and server settings).",
    values={
        "REGULAR": "A regular user: manages their own account only.",
        "ADMIN": "An administrator: also manages other accounts and the server settings.",
    },
)
Gender = described_enum(
    enums.Gender,
    name="Gender",
    description="The gender a user gives.",
    values={
        "MALE": "Male.",
        "FEMALE": "Female.",
        "UNSPECIFIED": "Not given.",
    },
)
Units = described_enum(
    enums.Units,
    name="Units",
    description="How distances, heights and weights are shown.",
    values={
        "METRIC": "Kilometres, centimetres and kilograms.",
        "IMPERIAL": "Miles, feet and inches, and pounds.",
    },
)
Currency = described_enum(
    enums.Currency,
    name="Currency",
    description="The currency of prices.",
    values={"EURO": "Euro (EUR).", "DOLLAR": "US dollar (USD).", "POUND": "Pound sterling (GBP)."},
)
WeekDay = described_enum(
    enums.WeekDay,
    name="WeekDay",
    description="A day of the week.",
    values={day.name: day.name.capitalize() + "." for day in enums.WeekDay},
)
Language = described_enum(
    enums.Language,
    name="Language",
    description="An interface language.",
    values={
        "CA": "Catalan.",
        "CN": "Simplified Chinese.",
        "TW": "Traditional Chinese.",
        "DE": "German.",
        "FR": "French.",
        "GL": "Galician.",
        "IT": "Italian.",
        "NL": "Dutch.",
        "PT": "Portuguese.",
        "SL": "Slovenian.",
        "SV": "Swedish.",
        "ES": "Spanish.",
        "US": "English.",
    },
)
ActivityVisibility = described_enum(
    enums.ActivityVisibility,
    name="ActivityVisibility",
    description="Who sees an activity: everyone (PUBLIC), followers, or only its owner.",
    values={
        "PUBLIC": "Everyone, signed in or not.",
        "FOLLOWERS": "The owner's followers and the owner.",
        "PRIVATE": "Only the owner.",
    },
)
PasswordPolicy = described_enum(
    enums.PasswordPolicy,
    name="PasswordPolicy",
    description="What a new password must hold.",
    values={
        "LENGTH_ONLY": "A minimum length only.",
        "STRICT": "The minimum length, and an upper-case letter, a lower-case letter, a digit "
        "and a symbol.",
    },
)
