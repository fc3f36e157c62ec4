"""The one parser of ids: global ids (``base64("Type:<id>")``) and plain row ids.

Only the canonical spelling of an id is accepted: a positive integer in ASCII digits with no
sign, leading zero or other Unicode digit (``01``, ``+1``, the Arabic-Indic, fullwidth or
superscript one are not ``1``), within the range of the databases' keys (``domain.keys``), and for a global id exactly the
base64 text we hand out (standard alphabet, padded). So one object has one id: caches,
gateways and clients comparing ids as strings never see two spellings of one user, and no
look-up ever reaches ``int()`` with a string it cannot convert.
"""

from __future__ import annotations

import base64
import binascii
import re

from stridegraph.domain.keys import MAX_ROW_ID

_CANONICAL = re.compile(r"[1-9][0-9]{0,18}")
_MAX_GLOBAL_ID = 200  # characters; far beyond any type name and 19 digits


def parse_row_id(raw: str) -> int | None:
    """The row id a canonical decimal string names, or None."""
    if not isinstance(raw, str) or _CANONICAL.fullmatch(raw) is None:
        return None
    value = int(raw)
    return value if value <= MAX_ROW_ID else None


def to_global_id(type_name: str, row_id: int) -> str:
    return base64.b64encode(f"{type_name}:{row_id}".encode()).decode("ascii")


def decode_global_id(value: str) -> tuple[str, int] | None:
    """``(type name, row id)`` of a canonical global id, or None for anything else."""
    if not isinstance(value, str) or not value.isascii() or len(value) > _MAX_GLOBAL_ID:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    type_name, colon, raw = decoded.partition(":")
    row_id = parse_row_id(raw)
    if not colon or not type_name or row_id is None or to_global_id(type_name, row_id) != value:
        return None
    return type_name, row_id


def parse_global_id(value: str, type_name: str) -> int | None:
    """The row id inside a canonical global id of ``type_name``, or None."""
    decoded = decode_global_id(value)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]
