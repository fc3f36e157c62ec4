"""SQL for user records."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

from sqlalchemy import (
    ColumnElement,
    Integer,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from stridegraph.db import security_events
from stridegraph.db.enums import AccessType
from stridegraph.db.fast_read import PrecompiledRead, SessionReads
from stridegraph.db.keys import email_key
from stridegraph.db.models import (
    Base,
    IdentityProviderLink,
    Integrations,
    LoginAttempt,
    OutboxMail,
    PrivacySettings,
    ServerSettings,
    User,
)
from stridegraph.db.secrets import WITH_PASSWORD_HASH


async def get_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_many(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, User]:
    rows = await session.scalars(select(User).where(User.id.in_(user_ids)))
    return {u.id: u for u in rows}


async def get_by_username(
    session: AsyncSession, username: str, *, with_password_hash: bool = False
) -> User | None:
    """The account by username, case-insensitively; ``with_password_hash`` also loads the
    hash (deferred otherwise, ``db/secrets.py``) for a caller that checks a password."""
    query = select(User).where(func.lower(User.username) == username.lower())
    if with_password_hash:
        query = query.options(WITH_PASSWORD_HASH)
    return await session.scalar(query)


async def get_by_email(
    session: AsyncSession, email: str, *, with_password_hash: bool = False
) -> User | None:
    """The account that owns ``email`` (matched on its key; an account that merely stores
    the address without owning it, ``email_key`` NULL, is never found this way)."""
    query = select(User).where(User.email_key == email_key(email))
    if with_password_hash:
        query = query.options(WITH_PASSWORD_HASH)
    return await session.scalar(query)


async def privacy_for(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, PrivacySettings]:
    rows = await session.scalars(
        select(PrivacySettings).where(PrivacySettings.user_id.in_(user_ids))
    )
    return {p.user_id: p for p in rows}


async def integrations_for(
    session: AsyncSession, user_ids: Sequence[int]
) -> dict[int, Integrations]:
    rows = await session.scalars(select(Integrations).where(Integrations.user_id.in_(user_ids)))
    return {i.user_id: i for i in rows}


async def external_auth_counts(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, int]:
    rows = await session.execute(
        select(IdentityProviderLink.user_id, func.count())
        .where(IdentityProviderLink.user_id.in_(user_ids))
        .group_by(IdentityProviderLink.user_id)
    )
    return {user_id: count for user_id, count in rows}


class UniqueViolation(Exception):
    """An insert or update hit a unique index; ``column`` is ``username`` or ``email``."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


async def _begin_sqlite(session: AsyncSession) -> None:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    if not raw.driver_connection.in_transaction:  # type: ignore[union-attr]
        await connection.exec_driver_sql("BEGIN")


def _which_unique(exc: IntegrityError) -> str | None:
    text = str(exc.orig).lower()
    if "username" in text:
        return "username"
    if "email" in text:
        return "email"
    return None


async def flush_unique(session: AsyncSession, *new: Base) -> None:
    """Add ``new`` rows and flush in a savepoint, turning a unique-index hit into
    :class:`UniqueViolation`. After a hit on an insert the surrounding transaction stays
    usable (sign-up goes on to answer "as if new" after an e-mail collision): the rows must
    be added here, inside the savepoint, for SQLAlchemy to drop them again. After a hit on
    an update of an existing row the unit must roll back (every caller does).

    SQLite's driver (legacy transaction mode) sends BEGIN only before a data change, not
    before a SAVEPOINT; a savepoint that opened the transaction would then be committed by
    its RELEASE and a later rollback would not undo it. So on SQLite the transaction is
    begun explicitly first."""
    if session.get_bind().dialect.name == "sqlite":
        await _begin_sqlite(session)
    try:
        async with session.begin_nested():
            session.add_all(new)
            await session.flush()
    except IntegrityError as exc:
        column = _which_unique(exc)
        if column is None:
            raise
        raise UniqueViolation(column) from None


async def insert_user(session: AsyncSession, user: User) -> User:
    """Insert a user with its privacy-settings and integrations rows (the seed's default data)."""
    await flush_unique(session, user)
    session.add(PrivacySettings(user_id=user.id))
    session.add(Integrations(user_id=user.id))
    await session.flush()
    return user


async def username_taken(
    session: AsyncSession, username: str, *, exclude_id: int | None = None
) -> bool:
    query = select(User.id).where(func.lower(User.username) == username.lower())
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return (await session.scalar(query.limit(1))) is not None


async def email_taken(session: AsyncSession, email: str, *, exclude_id: int | None = None) -> bool:
    query = select(User.id).where(User.email_key == email_key(email))
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return (await session.scalar(query.limit(1))) is not None


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class UserListFilter:
    """What a listing matches. ``listed_only`` hides inactive and unapproved accounts (every
    non-admin listing); ``search_email`` lets ``search`` match e-mail too (admins only)."""

    search: str | None = None
    search_email: bool = False
    access_type: AccessType | None = None
    active: bool | None = None
    email_verified: bool | None = None
    pending_admin_approval: bool | None = None
    listed_only: bool = False


SORT_KEYS: dict[str, Any] = {
    "username": func.lower(User.username),
    "name": func.lower(User.name),
    "created_at": User.created_at,
    "access_type": User.access_type,
}


#: What a listing reads of each user: what a listed user can show (its fields, its photo),
#: none of its secrets or bookkeeping (key columns, MFA state, change times). The decoding
#: of fifty rows is a good part of a page's CPU, so every column counts.
_LISTED = (
    User.id,
    User.username,
    User.name,
    User.city,
    User.access_type,
    User.created_at,
    User.photo_path,
    User.email,
    User.birthdate,
    User.preferred_language,
    User.gender,
    User.units,
    User.height,
    User.max_heart_rate,
    User.first_day_of_week,
    User.currency,
    User.active,
    User.mfa_enabled,
    User.email_verified,
    User.pending_admin_approval,
)
LISTED_KEYS: tuple[str, ...] = tuple(column.key for column in _LISTED)
#: A listed user: a read-only row whose attributes are the user's listed columns, then its
#: sort key's value (for its cursor) and the listing's total when asked for (no ORM
#: instance: building fifty of them per page cost more CPU than the page's SQL).
ListedRow = namedtuple("ListedRow", (*LISTED_KEYS, "sort_key", "total"))  # type: ignore[misc]
#: How the rest of the code names a :data:`ListedRow` (its fields are built from
#: :data:`LISTED_KEYS`, which a type checker cannot follow).
ListedUser: TypeAlias = Any


def user_values(user: User | ListedUser) -> Iterable[tuple[str, Any]]:
    """(attribute, value) of what a listed user shows: a listing row's at C speed (its
    first columns are :data:`LISTED_KEYS`, in order; a page copies fifty of them), an
    instance's by attribute."""
    if isinstance(user, ListedRow):
        return zip(LISTED_KEYS, user, strict=False)
    return ((key, getattr(user, key)) for key in LISTED_KEYS)


@dataclass(frozen=True)
class Keyset:
    """A position in a listing: the sort key's value (as the database computed it) and id."""

    value: Any
    id: int


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


Params = dict[str, Any]


def _conditions(spec: UserListFilter) -> list[ColumnElement[bool]]:
    """The filter's conditions, its values as bind parameters (:func:`_filter_values`), so a
    listing's statement is the same for every search text or type: compiled once per shape
    (:func:`_listing`)."""
    conditions: list[ColumnElement[bool]] = []
    if spec.listed_only:
        conditions += [User.active.is_(True), User.pending_admin_approval.is_(False)]
    if spec.search:
        conditions.append(_search(email=spec.search_email))
    if spec.access_type is not None:
        conditions.append(User.access_type == bindparam("access_type", type_=User.access_type.type))
    for column, wanted in (
        (User.active, spec.active),
        (User.email_verified, spec.email_verified),
        (User.pending_admin_approval, spec.pending_admin_approval),
    ):
        if wanted is not None:
            conditions.append(column.is_(wanted))
    return conditions


def _filter_values(spec: UserListFilter) -> Params:
    """The values of :func:`_conditions`' bind parameters."""
    values: Params = {}
    if spec.search:
        values["pattern"] = f"%{_escape_like(spec.search.lower())}%"
        if spec.search_email:
            values["key_pattern"] = f"%{_escape_like(email_key(spec.search))}%"
    if spec.access_type is not None:
        values["access_type"] = spec.access_type
    return values


def _search(*, email: bool) -> ColumnElement[bool]:
    """Partial, case-insensitive match on username and name, and (``email``) on the address
    by its key, so ``ÄRGER`` finds ``ärger@…`` on SQLite too; also by the stored address,
    for accounts that do not own theirs."""
    columns = [User.username, User.name] + ([User.email] if email else [])
    matches = [func.lower(c).like(bindparam("pattern"), escape="\\") for c in columns]
    if email:
        matches.append(User.email_key.like(bindparam("key_pattern"), escape="\\"))
    return or_(*matches)


def _beyond(key: ColumnElement[Any], name: str, *, descending: bool) -> ColumnElement[bool]:
    """Rows strictly after the keyset ``name`` (its values ``{name}_key`` and ``{name}_id``)
    in the order (key, id) ascending, or descending.

    A row-value comparison, not ``key > v OR (key = v AND id > i)``: PostgreSQL turns
    ``(key, id) > (v, i)`` into one range over the matching ``(key, id)`` index
    (``ix_users_keyset_*`` in ``models.User``) and seeks to the cursor; the OR form is only
    a filter, so every page scanned its way there. SQLite has row values too (3.15+)."""
    row = tuple_(key, User.id)
    position = tuple_(
        bindparam(f"{name}_key", type_=key.type), bindparam(f"{name}_id", type_=User.id.type)
    )
    return row < position if descending else row > position


async def count_users(session: AsyncSession, spec: UserListFilter) -> int:
    query = select(func.count()).select_from(User).where(*_conditions(spec))
    return int(await session.scalar(query, _filter_values(spec)) or 0)


async def list_users(
    engine: AsyncEngine | None,
    reads: SessionReads,
    spec: UserListFilter,
    *,
    sort: str,
    descending: bool,
    after: Keyset | None = None,
    before: Keyset | None = None,
    limit: int,
    offset: int = 0,
    count_all: bool = True,
) -> list[ListedUser]:
    """Users matching ``spec`` in (sort key, id) order, each with its sort key's value for
    cursors. Keyset bounds (``after``/``before``) make deep pages as cheap as the first.

    With ``count_all`` each row also carries how many users match ``spec`` (all pages), from
    the SAME statement: the count is an uncorrelated scalar subquery, which the database
    runs once, so a listing with its total costs one round trip, not two. An empty page
    carries no total (:func:`count_users` answers then).

    The statement is compiled once per shape and run as a :class:`PrecompiledRead` on
    ``engine`` (None: through ``reads``, the caller's session), so a page pays neither the
    statement's construction nor an ORM session."""
    params = _filter_values(spec)
    params["limit"] = limit
    if offset:
        params["offset"] = offset
    shape = _Shape(
        sort=sort,
        descending=descending,
        after=after is not None,
        before=before is not None,
        offset=bool(offset),
        count_all=count_all,
        spec=replace(spec, search="?" if spec.search else None),
    )
    read = _LISTINGS.get(shape) or _listing(shape)
    for name, at in (("after", after), ("before", before)):
        if at is not None:
            params[f"{name}_key"], params[f"{name}_id"] = at.value, at.id
    rows = await read.all_values(engine, reads, params)
    if count_all:
        return [ListedRow._make(row) for row in rows]
    return [ListedRow._make((*row, None)) for row in rows]


@dataclass(frozen=True)
class _Shape:
    """What a listing's SQL depends on (not its values): one compiled statement each."""

    sort: str
    descending: bool
    after: bool
    before: bool
    offset: bool
    count_all: bool
    spec: UserListFilter


#: The compiled listings by shape: a few hundred at most (sorts x directions x bounds x
#: filters present), so unbounded by design.
_LISTINGS: dict[_Shape, PrecompiledRead] = {}


def _listing(shape: _Shape) -> PrecompiledRead:
    key = SORT_KEYS[shape.sort]
    conditions = _conditions(shape.spec)
    columns: list[Any] = [*(c.label(c.key) for c in _LISTED), key.label("sort_key")]
    if shape.count_all:
        total = select(func.count()).select_from(User).where(*conditions).scalar_subquery()
        columns.append(total.label("total"))
    query = select(*columns).where(*conditions)
    if shape.after:
        query = query.where(_beyond(key, "after", descending=shape.descending))
    if shape.before:
        query = query.where(_beyond(key, "before", descending=not shape.descending))
    order = (key.desc(), User.id.desc()) if shape.descending else (key.asc(), User.id.asc())
    query = query.order_by(*order).limit(bindparam("limit", type_=Integer))
    if shape.offset:
        query = query.offset(bindparam("offset", type_=Integer))
    read = _LISTINGS[shape] = PrecompiledRead(query)
    return read


async def lock_admin_changes(session: AsyncSession) -> None:
    """Serialise every change that may remove an active admin, until the transaction ends.

    PostgreSQL: a row lock on the single server-settings row (statements after it see what
    the previous holder committed, under READ COMMITTED). SQLite: a no-op write, which takes
    the database's one write lock at once instead of at the transaction's first real write.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            select(ServerSettings.id).where(ServerSettings.id == 1).with_for_update()
        )
    else:
        await session.execute(text("UPDATE server_settings SET id = id WHERE id = 1"))


async def active_admin_ids(session: AsyncSession) -> set[int]:
    rows = await session.scalars(
        select(User.id).where(User.access_type == AccessType.ADMIN, User.active.is_(True))
    )
    return set(rows)


async def reload(session: AsyncSession, user_id: int) -> User | None:
    """Read a user afresh, overwriting whatever this session's identity map holds."""
    return await session.scalar(
        select(User).where(User.id == user_id).execution_options(populate_existing=True)
    )


async def delete_user(session: AsyncSession, user_id: int) -> None:
    """Delete a user; the foreign keys cascade to everything the user owns (sessions, tokens,
    privacy settings, integrations, identity links, backup codes, one-time tokens, exports,
    notification choices). Its security history goes too, except its id as the actor of
    events about other users (``security_events.forget_user``), and so does every mail
    still in the outbox for its address (it would otherwise keep the address and the name),
    and its rows in the rate limits."""
    # only an address the account owns: one that merely shares a taken address (a sign-up
    # with it, ``domain/signup.py``) must not drop mail meant for the address's owner
    address = await session.scalar(
        select(User.email).where(User.id == user_id, User.email_key.is_not(None))
    )
    if address is not None:
        await session.execute(
            delete(OutboxMail)
            .where(func.lower(OutboxMail.recipient) == func.lower(literal(address)))
            .execution_options(synchronize_session=False)
        )
    # rate-limit and notice-cooldown rows keyed by the account (``ratelimit.user_key``)
    key = f"#{user_id}"
    await session.execute(
        delete(LoginAttempt)
        .where(or_(LoginAttempt.account_key == key, LoginAttempt.account_key.endswith(":" + key)))
        .execution_options(synchronize_session=False)
    )
    await security_events.forget_user(session, user_id)
    await session.execute(delete(User).where(User.id == user_id))
