"""The one way a sign-in mutation answers: ``login``, ``completeMfaLogin``,
``finishExternalLogin`` and ``finishPasskeyLogin`` differ only in the domain step they run,
so the mapping to :class:`LoginPayload` and the refresh-cookie delivery live here once (a
fix to how a sign-in answers then reaches every way of signing in)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.types import Info

from stridegraph.domain.login_finish import LoginResult
from stridegraph.graph import cookies
from stridegraph.graph.auth.types import LoginPayload
from stridegraph.graph.errors import run_mutation


async def sign_in(
    info: Info,
    step: Callable[..., Awaitable[LoginResult]],
    /,
    *,
    refresh_token_in_cookie: bool | None = None,
    **kwargs: Any,
) -> LoginPayload:
    """Run one domain sign-in ``step`` (with the request's client address and user agent,
    for the sign-in event) and answer like login: tokens, or the MFA challenge, or the
    errors; the refresh token goes into the HttpOnly cookie when the client (else the
    server's REFRESH_COOKIE setting) wants it."""
    ctx = info.context
    payload: LoginPayload = await run_mutation(
        info,
        step,
        lambda result: LoginPayload.from_result(result, ctx),
        LoginPayload,
        client_address=ctx.client_address,
        user_agent=ctx.user_agent,
        **kwargs,
    )
    return cookies.deliver(info, payload, cookies.wanted(info, refresh_token_in_cookie))
