"""The user's profile fields, declared once: their names (the ``users`` columns they are
written to), whether null clears them, their length or range rules, and the description a
client reads. Validation (``domain/validation``), the GraphQL inputs and the ``User`` /
``UserMe`` types (``graph/users``) derive from this table, so a rule or a description is
changed in one place and cannot drift between sign-up, ``updateMe``, ``updateUser`` and
``createUser``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProfileField:
    name: str
    #: What a client reads in the schema (the rule included, so a form can enforce it).
    description: str
    #: Null clears the field; otherwise null is REQUIRED (leaving the field out keeps it).
    nullable: bool
    #: Text: trimmed, length-checked, no control characters.
    text: bool = False
    #: Inclusive bounds of a number.
    bounds: tuple[int, int] | None = None

    def input_description(self) -> str:
        """The description on an input, which also says what null does."""
        return f"{self.description} Null for none." if self.nullable else self.description


PROFILE: tuple[ProfileField, ...] = (
    ProfileField("name", "The name others see, 1-250 characters.", nullable=False, text=True),
    ProfileField(
        "username",
        "1-250 letters, digits and dots (not dots alone); unique whatever the letter case.",
        nullable=False,
        text=True,
    ),
    ProfileField(
        "email",
        "An e-mail address of at most 250 characters; unique whatever the letter case.",
        nullable=False,
        text=True,
    ),
    ProfileField("city", "At most 250 characters.", nullable=True, text=True),
    ProfileField("birthdate", "Not in the future.", nullable=True),
    ProfileField(
        "preferred_language",
        "The language of the interface and of the mail the server sends.",
        nullable=False,
    ),
    ProfileField("gender", "The gender the user gives.", nullable=False),
    ProfileField("units", "How distances, heights and weights are shown.", nullable=False),
    ProfileField("height", "Height in centimetres, 1-300.", nullable=True, bounds=(1, 300)),
    ProfileField(
        "max_heart_rate",
        "Maximum heart rate in beats per minute, 30-250.",
        nullable=True,
        bounds=(30, 250),
    ),
    ProfileField("first_day_of_week", "The first day of a week in calendars.", nullable=False),
    ProfileField("currency", "The currency of prices (gear costs).", nullable=False),
)
FIELDS: dict[str, ProfileField] = {f.name: f for f in PROFILE}


def describe(name: str) -> str:
    return FIELDS[name].description
