"""GraphQL enums over the stored enums (GraphQL shows the member names)."""

from __future__ import annotations

import strawberry

from stridegraph.db import enums

AccessType = strawberry.enum(enums.AccessType, name="AccessType")
Gender = strawberry.enum(enums.Gender, name="Gender")
Units = strawberry.enum(enums.Units, name="Units")
Currency = strawberry.enum(enums.Currency, name="Currency")
WeekDay = strawberry.enum(enums.WeekDay, name="WeekDay")
Language = strawberry.enum(enums.Language, name="Language", description="The seed's 13 codes.")
ActivityVisibility = strawberry.enum(enums.ActivityVisibility, name="ActivityVisibility")
PasswordPolicy = strawberry.enum(enums.PasswordPolicy, name="PasswordPolicy")
