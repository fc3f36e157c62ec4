"""Characters no text we accept may contain, whatever the field.

NUL (U+0000) cannot be stored by PostgreSQL and is silently kept by SQLite; a lone
surrogate (U+D800 to U+DFFF) is not a character at all and cannot be encoded as UTF-8, so
neither database nor our JSON answers can carry it. Refusing both at the edge makes the two
databases behave the same and keeps such text out of every later step.
"""

from __future__ import annotations

import re

FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
FORBIDDEN_DESCRIPTION = "NUL (U+0000) or a lone surrogate (U+D800 to U+DFFF)"


def has_forbidden_character(value: str) -> bool:
    return FORBIDDEN.search(value) is not None
