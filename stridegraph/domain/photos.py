"""Profile photos: validation, processing, storage.

INTERFACE STUB used by account deletion (issue 4); filled in by the photos work (issue 7).
"""

from __future__ import annotations

from stridegraph.db.models import User
from stridegraph.domain.unit import Unit


def discard_after_commit(unit: Unit, *, user: User) -> None:
    """Remove ``user``'s stored photo file once the transaction commits (deleteMe,
    deleteUser, photo replacement). Never before: a rollback must leave the file in place."""
