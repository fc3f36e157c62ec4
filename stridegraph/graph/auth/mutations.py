"""Login, session and API-token mutations, and ``changePassword``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from stridegraph.domain import admin as admin_domain
from stridegraph.domain import api_tokens as api_tokens_domain
from stridegraph.domain import login as login_domain
from stridegraph.domain import sessions as sessions_domain
from stridegraph.domain.scopes import PROFILE_WRITE, USERS_WRITE
from stridegraph.graph import cookies
from stridegraph.graph.arguments import (
    ApiTokenId,
    CurrentPassword,
    NewPassword,
    OptionalCode,
    OptionalCurrentPassword,
    Password,
    RefreshToken,
    RefreshTokenInCookie,
    SessionId,
    UserId,
    Username,
    proof,
)
from stridegraph.graph.auth.sign_in import sign_in
from stridegraph.graph.auth.types import (
    ApiToken,
    ChangePasswordPayload,
    CreateApiTokenPayload,
    LoginPayload,
    LogoutPayload,
    RefreshSessionPayload,
    RevokeApiTokenPayload,
    RevokeSessionPayload,
    RevokeUserSessionsPayload,
    Session,
)
from stridegraph.graph.errors import GlobalId, run_mutation
from stridegraph.graph.permissions import HasScope, requires
from stridegraph.graph.user_admin import on_user
from stridegraph.graph.users.types import UserMe


@strawberry.type
class AuthMutations:
    @strawberry.mutation(
        description="Sign in with a username or e-mail address and a password. With MFA on, "
        "answers mfaRequired and an mfaToken instead of tokens."
    )
    async def login(
        self,
        info: Info,
        username: Username,
        password: Password,
        refresh_token_in_cookie: RefreshTokenInCookie = None,
    ) -> LoginPayload:
        return await sign_in(
            info,
            login_domain.login,
            refresh_token_in_cookie=refresh_token_in_cookie,
            username=username,
            password=password,
        )

    @strawberry.mutation(
        description="Exchange a refresh token for new tokens. The one given stops working; "
        "presenting it again ends the whole session. Without refreshToken, the session "
        "cookie's is used (the request then needs an Apollo-Require-Preflight header) and "
        "the new one goes back in the cookie."
    )
    async def refresh_session(
        self, info: Info, refresh_token: RefreshToken = None
    ) -> RefreshSessionPayload:
        from_cookie = refresh_token is None
        token = cookies.presented(info) if from_cookie else refresh_token
        payload = await run_mutation(
            info,
            sessions_domain.refresh_session,
            lambda issued: RefreshSessionPayload(
                access_token=issued.access_token,
                refresh_token=issued.refresh_token,
                expires_at=issued.access_expires_at,
                refresh_expires_at=issued.refresh_expires_at,
            ),
            RefreshSessionPayload,
            refresh_token=token or "",
        )
        return cookies.deliver(info, payload, from_cookie)

    @strawberry.mutation(
        description="End the session this request is made with (signed in, profile:write), "
        "or without a bearer token the session of refreshToken or of the session cookie "
        "(which then needs an Apollo-Require-Preflight header). Clears the session cookie."
    )
    async def logout(self, info: Info, refresh_token: RefreshToken = None) -> LogoutPayload:
        viewer = info.context.viewer
        token = refresh_token or (cookies.presented(info) if viewer is None else None)
        if token is not None and viewer is None:
            payload = await run_mutation(
                info,
                sessions_domain.end_session_by_refresh_token,
                lambda _: LogoutPayload(),
                LogoutPayload,
                refresh_token=token,
            )
        else:
            HasScope(PROFILE_WRITE).has_permission(None, info)
            payload = await run_mutation(
                info,
                sessions_domain.logout,
                lambda _: LogoutPayload(),
                LogoutPayload,
            )
        cookies.clear(info)
        return payload

    @strawberry.mutation(
        description="End one of your sessions (on another device, or this one).",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def revoke_session(self, info: Info, id: SessionId) -> RevokeSessionPayload:
        viewer = info.context.viewer
        return await run_mutation(
            info,
            sessions_domain.revoke_session,
            lambda row: RevokeSessionPayload(session=Session.from_row(row, viewer.session_id)),
            RevokeSessionPayload,
            session_id=GlobalId(id, "Session"),
        )

    @strawberry.mutation(
        description="End every session and every API token of a user (administrators).",
        extensions=[requires(scope=USERS_WRITE, admin=True)],
    )
    async def revoke_user_sessions(self, info: Info, id: UserId) -> RevokeUserSessionsPayload:
        return await on_user(
            info,
            id,
            admin_domain.revoke_user_sessions,
            lambda ended: RevokeUserSessionsPayload(
                revoked_count=ended.sessions, revoked_api_token_count=ended.api_tokens
            ),
            RevokeUserSessionsPayload,
        )

    @strawberry.mutation(
        description="Create a personal API token; its secret is in the answer, only this once. "
        "Only with a session, and with proof of recent sign-in: currentPassword, or code (MFA), "
        "or a sign-in within the last few minutes (else REAUTHENTICATION_REQUIRED). Expires "
        "after the server's default lifetime (90 days unless configured) unless expiresAt is "
        "given or neverExpires is true.",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def create_api_token(
        self,
        info: Info,
        name: Annotated[str, strawberry.argument(description="A name to recognise the token by.")],
        scopes: Annotated[
            list[str],
            strawberry.argument(description="What the token may do (scope names), within yours."),
        ],
        expires_at: Annotated[
            dt.datetime | None,
            strawberry.argument(description="When it stops working; default: the server's."),
        ] = None,
        never_expires: Annotated[
            bool, strawberry.argument(description="True: it never expires.")
        ] = False,
        current_password: OptionalCurrentPassword = None,
        code: OptionalCode = None,
    ) -> CreateApiTokenPayload:
        return await run_mutation(
            info,
            api_tokens_domain.create_api_token,
            lambda issued: CreateApiTokenPayload(
                token=issued.token, api_token=ApiToken.from_row(issued.row)
            ),
            CreateApiTokenPayload,
            name=name,
            scopes=scopes,
            expires_at=expires_at,
            never_expires=never_expires,
            proof=proof(info, current_password, code),
        )

    @strawberry.mutation(
        description="Revoke one of your API tokens.",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def revoke_api_token(self, info: Info, id: ApiTokenId) -> RevokeApiTokenPayload:
        return await run_mutation(
            info,
            api_tokens_domain.revoke_api_token,
            lambda row: RevokeApiTokenPayload(api_token=ApiToken.from_row(row)),
            RevokeApiTokenPayload,
            token_id=GlobalId(id, "ApiToken"),
        )

    @strawberry.mutation(
        description="Change your password. Ends your other sessions; this one stays. API "
        "tokens stay unless revokeApiTokens is true. A code (MFA), when given, must be right "
        "too.",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def change_password(
        self,
        info: Info,
        current_password: CurrentPassword,
        new_password: NewPassword,
        code: OptionalCode = None,
        revoke_api_tokens: Annotated[
            bool, strawberry.argument(description="True: your API tokens end too.")
        ] = False,
    ) -> ChangePasswordPayload:
        return await run_mutation(
            info,
            login_domain.change_password,
            lambda user: ChangePasswordPayload(user=UserMe.of(user, info.context)),
            ChangePasswordPayload,
            proof=proof(info, current_password, code),
            new_password=new_password,
            revoke_api_tokens=revoke_api_tokens,
        )
