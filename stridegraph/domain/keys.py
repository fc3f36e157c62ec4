"""The range of row ids: every primary key is an ``Integer`` column, 32-bit on PostgreSQL.

An id outside it cannot name a row, and handing it to the driver fails (asyncpg refuses an
int4 parameter out of range; SQLite refuses anything past 64 bits), so parsers refuse it
first.
"""

from __future__ import annotations

MAX_ROW_ID = 2**31 - 1
