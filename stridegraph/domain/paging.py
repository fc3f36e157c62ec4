"""Page-size and page-number limits of every listing: the single source of these numbers.

The listings check them (a domain function may be called without GraphQL), and
``graph.limits`` checks the same table before execution, so an operation asking for an
impossible page fails as a whole before any field touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from stridegraph.domain.errors import DomainError, ErrorCode

MAX_PAGE_SIZE = 100
DEFAULT_FIRST = 20
DEFAULT_PER_PAGE = 10


@dataclass(frozen=True)
class Bounds:
    """An inclusive range; ``high`` None means unbounded above. ``message`` is the refusal."""

    low: int
    high: int | None
    message: str

    def holds(self, value: int) -> bool:
        return self.low <= value and (self.high is None or value <= self.high)


# Keyed by the argument's snake_case name (the GraphQL name camel-cases it). Any listing
# argument of one of these names obeys these bounds.
ARGUMENT_BOUNDS: dict[str, Bounds] = {
    "first": Bounds(0, MAX_PAGE_SIZE, f"first must be between 0 and {MAX_PAGE_SIZE}."),
    "last": Bounds(0, MAX_PAGE_SIZE, f"last must be between 0 and {MAX_PAGE_SIZE}."),
    "page": Bounds(1, None, "page starts at 1."),
    "per_page": Bounds(1, MAX_PAGE_SIZE, f"perPage must be between 1 and {MAX_PAGE_SIZE}."),
}


def check_bounds(name: str, value: int | None) -> None:
    """OUT_OF_RANGE naming the argument when ``value`` is outside its bounds."""
    bounds = ARGUMENT_BOUNDS[name]
    if value is not None and not bounds.holds(value):
        raise DomainError.of(ErrorCode.OUT_OF_RANGE, bounds.message, name)
