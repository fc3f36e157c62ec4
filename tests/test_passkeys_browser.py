"""Passkeys in a real headless Chromium (issue 16, point 6): its own WebAuthn implementation,
with a CDP virtual authenticator, registers a passkey and signs in with it (discoverable,
then by username) from a page the test serves at the real server's origin
(``http://localhost:PORT``, a secure context; the RP id ``localhost`` comes from PUBLIC_URL).
It proves a browser accepts our options and we accept what it answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stridegraph.db.models import Passkey
from stridegraph.domain.unit import open_unit
from tests.browser_support import assert_clean, run_script
from tests.conftest import free_port, server_env, start_server, stop_server
from tests.helpers import login_token, make_user

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


async def test_register_and_sign_in_with_chromium(
    settings: Any, services: Any, tmp_path: Path
) -> None:
    user = await make_user(services, "walker")
    token = await login_token(services, user)
    port = free_port()
    origin = f"http://localhost:{port}"
    server = start_server(server_env(settings, STRIDEGRAPH_PUBLIC_URL=origin), tmp_path, port=port)
    try:
        result = run_script("passkeys.mjs", origin, token, "walker", str(tmp_path / "profile"))
    finally:
        stop_server(server)
    assert_clean(result)
    assert result["secureContext"] is True
    registration = result["registration"]
    assert registration["options"]["rp"]["id"] == "localhost"
    finished = registration["finished"]["data"]["finishPasskeyRegistration"]
    assert finished["errors"] == [], finished
    assert finished["passkey"]["name"] == "Chromium"
    assert "internal" in finished["passkey"]["transports"]
    [stored] = result["credentialsAfterRegistration"]
    assert stored["isResidentCredential"] is True and stored["rpId"] == "localhost"
    for step in ("discoverable", "named"):
        answer = result[step]["finished"]["data"]["finishPasskeyLogin"]
        assert answer["errors"] == [], (step, answer)
        assert answer["accessToken"] and answer["mfaRequired"] is False
        assert answer["user"] == {"username": "walker", "passkeyCount": 1}
        assert result[step]["me"] == {"data": {"me": {"username": "walker"}}}
    assert result["discoverable"]["options"]["allowCredentials"] == []
    assert len(result["named"]["options"]["allowCredentials"]) == 1
    async with open_unit(services) as unit:
        [row] = (await unit.session.scalars(select(Passkey))).all()
    assert row.user_id == user.id
    assert row.sign_count == result["credentialsAfterSignIn"][0]["signCount"]
    assert row.last_used_at is not None
