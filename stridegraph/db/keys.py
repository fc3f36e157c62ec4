"""Normalised forms of identifiers, computed in Python so that SQLite and PostgreSQL agree.

SQLite's ``lower()`` folds ASCII only and neither database folds the Kelvin sign or joins a
decomposed ``é``; matching e-mail addresses with SQL functions therefore let ``Ärger@…`` and
``ärger@…`` become two accounts on one database and one on the other. Every lookup and the
unique index use :func:`email_key` instead (the migration that added ``users.email_key``
imports it too, so old and new rows are keyed alike).
"""

from __future__ import annotations

import unicodedata

#: ``casefold`` may expand a character to three (``ΐ``): room for a 250-character address.
EMAIL_KEY_LENGTH = 750


def email_key(address: str) -> str:
    """NFC, full Unicode case folding, then NFC again (folding can un-compose)."""
    folded = unicodedata.normalize("NFC", address.strip()).casefold()
    return unicodedata.normalize("NFC", folded)
