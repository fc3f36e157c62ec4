"""The statement every authenticated request makes: a live credential and its user, as one
precompiled read (``db/fast_read.py``). Sessions and API tokens differ only in the credential
table, the columns read of it and its liveness conditions; the rest is written here once.

The user's columns are all but the deferred secrets (``db/secrets.py``); of the credential,
only what a viewer needs, never its token hashes. The user comes back as a persistent ORM
instance in the request's session, as an ORM query would leave it; the credential as its
columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from stridegraph.db.fast_read import (
    PrecompiledRead,
    SessionReads,
    as_loaded,
)
from stridegraph.db.models import Base, User
from stridegraph.db.secrets import public_columns

C = TypeVar("C", bound=Base)
_CREDENTIAL, _USER = "c_", "u_"


class ViewerLookup:
    """A credential table's lookup: ``columns`` of it, joined to its user, ``where`` live."""

    def __init__(
        self,
        credential: type[C],
        columns: Sequence[InstrumentedAttribute[Any]],
        *where: ColumnElement[bool],
    ) -> None:
        self.credential = credential
        users = public_columns(_USER)
        self.read = PrecompiledRead(
            select(*(c.label(f"{_CREDENTIAL}{c.key}") for c in columns), *users)
            .join(User, User.id == credential.user_id)  # type: ignore[attr-defined]
            .where(*where)
        )
        #: the row is the credential's columns, then the user's: split by position
        self._credential_keys = tuple(str(c.key) for c in columns)
        self._user_keys = tuple(str(c.key).removeprefix(_USER) for c in users)

    async def find(
        self, engine: AsyncEngine, reads: SessionReads, **params: bytes | dt.datetime
    ) -> tuple[SimpleNamespace, User] | None:
        """The credential's columns as read, and its user as a detached instance holding
        its row (the caller's unit adopts it into its session). (The credential is no ORM
        instance: nothing writes through it, its use is recorded by id
        (``db/last_used.py``), and tracking a second instance per request cost CPU for
        nothing.)"""
        values = await self.read.first_values(engine, reads, params)
        if values is None:
            return None
        cut = len(self._credential_keys)
        found = SimpleNamespace(**dict(zip(self._credential_keys, values[:cut], strict=True)))
        user = dict(zip(self._user_keys, values[cut:], strict=True))
        return found, as_loaded(User, user)
