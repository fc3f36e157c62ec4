"""Browser sessions (issue 14, point 8): the refresh token as an HttpOnly, SameSite=Strict,
path-scoped cookie, by server setting or per login; refreshSession and logout read it, and
only with a header that forces a CORS preflight (CSRF prevention)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from stridegraph.app import create_app
from tests.browser_support import assert_clean, run_script
from tests.conftest import GraphQLClient, LiveServer
from tests.helpers import PASSWORD, login_token, make_user
from tests.mfa_support import COMPLETE, enrol, install_clock

LOGIN = f"""mutation($cookie: Boolean) {{ login(username: "alice", password: "{PASSWORD}",
  refreshTokenInCookie: $cookie) {{ accessToken refreshToken mfaToken errors {{ code }} }} }}"""
REFRESH = "mutation { refreshSession { accessToken refreshToken errors { code } } }"
LOGOUT = "mutation { logout { errors { code } } }"
ME = "{ me { username } }"
PREFLIGHT = {"Apollo-Require-Preflight": "true"}


async def post(
    http: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None, **variables: Any
) -> tuple[httpx.Response, dict[str, Any]]:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    return response, response.json()


def set_cookie(response: httpx.Response) -> str:
    (header,) = response.headers.get_list("set-cookie")
    return header


async def test_login_puts_the_refresh_token_in_a_strict_httponly_cookie(
    http: httpx.AsyncClient, services: Any
) -> None:
    await make_user(services, "alice")
    response, body = await post(http, LOGIN, cookie=True)
    login = body["data"]["login"]
    assert login["errors"] == [] and login["accessToken"] and login["refreshToken"] is None
    header = set_cookie(response).lower()
    assert header.startswith("stridegraph_refresh=sgr") or header.startswith("stridegraph_refresh=")
    for attribute in ("httponly", "samesite=strict", "path=/graphql", "max-age="):
        assert attribute in header, header
    assert "secure" in header  # testserver is not a loopback host
    # without the argument (REFRESH_COOKIE off): the token in the payload, no cookie
    http.cookies.clear()
    response, body = await post(http, LOGIN)
    assert body["data"]["login"]["refreshToken"] and not response.headers.get_list("set-cookie")


async def test_not_secure_on_localhost(settings: Any, services: Any) -> None:
    await make_user(services, "alice")
    app = create_app(settings.with_(refresh_cookie=True), services=services)
    services.settings = settings.with_(refresh_cookie=True)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as local:
        response, body = await post(local, LOGIN)  # the server setting, no argument
        assert body["data"]["login"]["refreshToken"] is None
        header = set_cookie(response).lower()
        assert "httponly" in header and "secure" not in header


async def test_refresh_and_logout_with_the_cookie_need_a_preflight_header(
    http: httpx.AsyncClient, services: Any
) -> None:
    await make_user(services, "alice")
    response, _ = await post(http, LOGIN, cookie=True)
    first = response.cookies["stridegraph_refresh"]
    # httpx keeps no Secure cookie over http://: hand it back as a browser on https would
    http.cookies.set("stridegraph_refresh", first)
    # no CSRF header: refused, the token not spent
    _, refused = await post(http, REFRESH)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused["errors"][0]["extensions"]["reason"] == "CSRF_HEADER_REQUIRED"
    # with it: new tokens, the new refresh token in the cookie again
    response, body = await post(http, REFRESH, PREFLIGHT)
    refreshed = body["data"]["refreshSession"]
    assert (
        refreshed["errors"] == [] and refreshed["accessToken"] and refreshed["refreshToken"] is None
    )
    second = response.cookies["stridegraph_refresh"]
    assert second != first
    http.cookies.clear()
    http.cookies.set("stridegraph_refresh", second)
    _, me = await post(http, ME, {"Authorization": f"Bearer {refreshed['accessToken']}"})
    assert me["data"]["me"]["username"] == "alice"
    # logout without a bearer, by the cookie: refused without the header, then done
    _, refused = await post(http, LOGOUT)
    assert refused["errors"][0]["extensions"]["reason"] == "CSRF_HEADER_REQUIRED"
    response, body = await post(http, LOGOUT, PREFLIGHT)
    assert body["data"]["logout"]["errors"] == []
    assert "max-age=0" in set_cookie(response).lower()
    _, me = await post(http, ME, {"Authorization": f"Bearer {refreshed['accessToken']}"})
    assert me["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # the ended session's cookie refreshes nothing
    _, body = await post(http, REFRESH, PREFLIGHT)
    assert body["data"]["refreshSession"]["errors"][0]["code"] == "INVALID_TOKEN"


async def test_refresh_with_neither_argument_nor_cookie_is_invalid(
    http: httpx.AsyncClient,
) -> None:
    _, body = await post(http, REFRESH, PREFLIGHT)
    assert body["data"]["refreshSession"]["errors"][0]["code"] == "INVALID_TOKEN"
    _, body = await post(http, LOGOUT, PREFLIGHT)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --------------------------------------------------------------------------- real browser


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_sign_in_reload_refresh_sign_out_in_chromium(
    live_server: LiveServer, services: Any, tmp_path: Path
) -> None:
    await make_user(services, "alice")
    result = run_script("sessions.mjs", live_server.url, "alice", PASSWORD, str(tmp_path / "p"))
    assert_clean(result)
    login = result["login"]["data"]["login"]
    assert login["errors"] == [] and login["accessToken"] and login["refreshToken"] is None
    assert result["scriptSeesCookie"] is False  # HttpOnly: no script can read it
    (cookie,) = [c for c in result["cookies"] if c["name"] == "stridegraph_refresh"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/graphql"
    assert cookie["expires"] > 0  # kept across browser restarts, until the session's end
    # after the reload, only the cookie is left: without the CSRF header it is refused
    assert result["refreshWithoutHeader"]["errors"][0]["extensions"]["reason"] == (
        "CSRF_HEADER_REQUIRED"
    )
    refreshed = result["refresh"]["data"]["refreshSession"]
    assert refreshed["errors"] == [] and refreshed["refreshToken"] is None
    assert result["me"]["data"]["me"]["username"] == "alice"
    assert result["logout"]["data"]["logout"]["errors"] == []
    assert not [c for c in result["cookiesAfterLogout"] if c["name"] == "stridegraph_refresh"]
    assert result["meAfterLogout"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    refused = result["refreshAfterLogout"]["data"]["refreshSession"]["errors"]
    assert refused[0]["code"] == "INVALID_TOKEN"


async def test_complete_mfa_login_follows_the_server_setting(settings: Any, services: Any) -> None:
    user = await make_user(services, "alice")
    cookie_on = settings.with_(refresh_cookie=True)
    services.settings = cookie_on
    clock = install_clock(services)
    transport = httpx.ASGITransport(app=create_app(cookie_on, services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        gql = GraphQLClient(http)
        _, backup = await enrol(gql, await login_token(services, user), clock)
        _, body = await post(http, LOGIN)
        challenge = body["data"]["login"]
        assert challenge["accessToken"] is None and challenge["refreshToken"] is None
        response, body = await post(http, COMPLETE, **{"t": challenge["mfaToken"], "c": backup[0]})
        done = body["data"]["completeMfaLogin"]
        assert done["errors"] == [] and done["accessToken"] and done["refreshToken"] is None
        assert "httponly" in set_cookie(response).lower()


async def test_a_listed_origin_may_send_the_cookie_a_wildcard_may_not(
    settings: Any, services: Any
) -> None:
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,apollo-require-preflight",
    }
    for origins, credentials in ((("https://app.example.com",), "true"), (("*",), None)):
        app = create_app(settings.with_(cors_origins=origins), services=services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.options("/graphql", headers=preflight)
        assert response.status_code == 200, response.text
        assert response.headers.get("access-control-allow-credentials") == credentials
