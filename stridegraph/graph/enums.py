"""GraphQL enums over the stored enums (GraphQL shows the member names)."""

from __future__ import annotations

import strawberry

from stridegraph.db import enums

AccessType = strawberry.enum(
    enums.AccessType,
    name="AccessType",
    description="A user's role: REGULAR, or ADMIN (manages accounts and server settings).",
)
Gender = strawberry.enum(enums.Gender, name="Gender", description="The gender a user gives.")
Units = strawberry.enum(
    enums.Units, name="Units", description="How distances, heights and weights are shown."
)
Currency = strawberry.enum(enums.Currency, name="Currency", description="The currency of prices.")
WeekDay = strawberry.enum(enums.WeekDay, name="WeekDay", description="A day of the week.")
Language = strawberry.enum(
    enums.Language,
    name="Language",
    description="An interface language: CA Catalan, CN Simplified Chinese, TW Traditional "
    "Chinese, DE German, FR French, GL Galician, IT Italian, NL Dutch, PT Portuguese, SL "
    "Slovenian, SV Swedish, ES Spanish, US English.",
)
ActivityVisibility = strawberry.enum(
    enums.ActivityVisibility,
    name="ActivityVisibility",
    description="Who sees an activity: everyone (PUBLIC), followers, or only its owner.",
)
PasswordPolicy = strawberry.enum(
    enums.PasswordPolicy,
    name="PasswordPolicy",
    description="LENGTH_ONLY: a minimum length; STRICT: also an upper-case letter, a "
    "lower-case letter, a digit and a symbol.",
)
