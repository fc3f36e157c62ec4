"""User queries: ``me``, look-ups, the two listings and ``node``.

Reading users needs ``users:read`` (anonymous only while ``publicProfiles`` is on, which the
domain checks); ``userByEmail`` needs an admin. Argument problems (page size above 100, a
negative page, a malformed id or cursor, an over-long search) are top-level BAD_USER_INPUT
errors raised before any user is read.
"""

from __future__ import annotations

import inspect
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from stridegraph.db.models import User as UserRow
from stridegraph.domain import admin as admin_domain
from stridegraph.domain import users as users_domain
from stridegraph.domain.scopes import PROFILE_READ, USERS_READ
from stridegraph.graph.arguments import After, Before, Email, First, Last, NodeId, UserId, Username
from stridegraph.graph.auth.types import ApiToken
from stridegraph.graph.errors import bad_user_input, check_query, run_query
from stridegraph.graph.ids import decode_global_id
from stridegraph.graph.permissions import requires, scope_or_anonymous
from stridegraph.graph.selection import selects
from stridegraph.graph.user_admin import of_user
from stridegraph.graph.users.inputs import UserFilter, UserOrder
from stridegraph.graph.users.types import (
    User,
    UserConnection,
    UserEdge,
    UserMe,
    UserPage,
    require_user_id,
    visible_users,
)

FILTER = strawberry.argument(description="Which users to list; default: all you may see.")
ORDER = strawberry.argument(description="The sort order; default: by username, ascending.")


def _user(info: Info, row: UserRow | None) -> User | None:
    return User.of(row, info.context) if row else None


@strawberry.type
class UserQueries:
    @strawberry.field(description="The signed-in user.", extensions=[requires(scope=PROFILE_READ)])
    async def me(self, info: Info) -> UserMe | None:
        row = check_query(users_domain.get_me, viewer=info.context.viewer)
        return UserMe.of(row, info.context)

    @strawberry.field(
        description="A user by id; null when there is none the viewer may see.",
        extensions=[scope_or_anonymous(USERS_READ)],
    )
    async def user(self, info: Info, id: UserId) -> User | None:
        user_id = require_user_id(id)
        return (await visible_users(info, [user_id]))[0]

    @strawberry.field(
        description="A user by username (case-insensitive).",
        extensions=[scope_or_anonymous(USERS_READ)],
    )
    async def user_by_username(self, info: Info, username: Username) -> User | None:
        row = await run_query(info, users_domain.user_by_username, username=username)
        return _user(info, row)

    @strawberry.field(
        description="A user by e-mail address (case-insensitive). Administrators only.",
        extensions=[requires(scope=USERS_READ, admin=True)],
    )
    async def user_by_email(self, info: Info, email: Email) -> User | None:
        row = await run_query(info, users_domain.user_by_email, email=email)
        return _user(info, row)

    @strawberry.field(
        description="Users, as a Relay connection with keyset cursors. `first` defaults to "
        "20 and may be at most 100 (so may `last`).",
        extensions=[scope_or_anonymous(USERS_READ)],
    )
    async def users(
        self,
        info: Info,
        filter: Annotated[UserFilter | None, FILTER] = None,
        order_by: Annotated[UserOrder | None, ORDER] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> UserConnection:
        wanted = filter.to_domain() if filter else None
        page = await run_query(
            info,
            users_domain.users_connection,
            filter=wanted,
            order=order_by.to_domain() if order_by else None,
            first=first,
            after=after,
            last=last,
            before=before,
            with_total=selects(info, "totalCount"),
        )
        edges = [UserEdge(cursor=e.cursor, node=User.of(e.user, info.context)) for e in page.edges]

        async def count_total() -> int:
            if page.total_count is not None:  # it came with the page
                return page.total_count
            return await run_query(info, users_domain.count_users, filter=wanted)

        return UserConnection(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            count_total=count_total,
        )

    @strawberry.field(
        description="Users by numbered page (perPage at most 100).",
        extensions=[scope_or_anonymous(USERS_READ)],
    )
    async def user_page(
        self,
        info: Info,
        page: Annotated[
            int | None, strawberry.argument(description="The page number, from 1.")
        ] = 1,
        per_page: Annotated[
            int | None, strawberry.argument(description="Users per page, at most 100.")
        ] = 10,
        filter: Annotated[UserFilter | None, FILTER] = None,
        order_by: Annotated[UserOrder | None, ORDER] = None,
    ) -> UserPage:
        result = await run_query(
            info,
            users_domain.users_page,
            filter=filter.to_domain() if filter else None,
            order=order_by.to_domain() if order_by else None,
            page=1 if page is None else page,
            per_page=10 if per_page is None else per_page,
        )
        return UserPage(
            total_count=result.total_count,
            page=result.page,
            per_page=result.per_page,
            page_count=result.page_count,
            items=[User.of(row, info.context) for row in result.users],
        )

    @strawberry.field(description="Any object by its global id (users: as `user(id:)`).")
    async def node(self, info: Info, id: NodeId) -> relay.Node | None:
        decoded = decode_global_id(id)
        try:
            if decoded is None:
                raise ValueError(id)
            node_type = relay.GlobalID(decoded[0], str(decoded[1])).resolve_type(info)
        except Exception:
            raise bad_user_input("id is not a global id of this API.", "id") from None
        found = node_type.resolve_node(str(decoded[1]), info=info, required=False)
        return await found if inspect.isawaitable(found) else found

    @strawberry.field(
        description="A user's API tokens, never their secrets, newest first (administrators). "
        "An id of no user gives an empty list; a malformed one is BAD_USER_INPUT.",
        extensions=[requires(scope=USERS_READ, admin=True)],
    )
    async def user_api_tokens(self, info: Info, id: UserId) -> list[ApiToken]:
        return await of_user(info, id, admin_domain.user_api_tokens, ApiToken.from_row)
