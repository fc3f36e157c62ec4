"""Scalar overrides: ``DateTime`` values are instants we can compute with.

Strawberry's ``DateTime`` accepts any ISO 8601 text ``dateutil`` parses, including instants
that do not exist in UTC (``9999-12-31T23:59:59-14:00`` is in year 10000 there), which then
raise OverflowError wherever they are compared or stored. Here a value with an offset is
normalised to UTC while parsing, so such a value is a coercion error (BAD_USER_INPUT for a
variable) naming the problem, and every later step sees one representation of the instant.
Values without an offset are passed on unchanged (their meaning is each field's business).
"""

from __future__ import annotations

import datetime as dt

import dateutil.parser
from strawberry.schema.types.base_scalars import DateTimeDefinition, wrap_parser
from strawberry.types.scalar import ScalarDefinition


def parse_instant(value: str) -> dt.datetime:
    moment = dateutil.parser.isoparse(value)
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("it is outside the years 1 to 9999 in UTC") from None


DateTime = ScalarDefinition(
    name=DateTimeDefinition.name,
    description=DateTimeDefinition.description,
    specified_by_url=DateTimeDefinition.specified_by_url,
    serialize=DateTimeDefinition.serialize,
    parse_value=wrap_parser(parse_instant, "DateTime", exceptions=(ValueError, OverflowError)),
    parse_literal=None,
    origin=dt.datetime,
)

SCALAR_OVERRIDES = {dt.datetime: DateTime}
