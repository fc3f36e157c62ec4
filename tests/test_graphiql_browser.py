"""GraphiQL in a real headless Chromium (issue 14, point 5), served by the real server:
every request that would leave the machine is aborted, a query runs through the UI with a
bearer header typed into the headers editor, the answer is read from the result pane, a
screenshot is kept, and any console error fails the test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import assert_clean, run_script
from tests.conftest import LiveServer
from tests.helpers import login_token, make_user

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


async def test_a_query_with_a_bearer_header_through_the_ui(
    live_server: LiveServer, services: Any, tmp_path: Path
) -> None:
    user = await make_user(services, "browsing", admin=True)
    token = await login_token(services, user)
    screenshot = tmp_path / "graphiql.png"
    result = run_script(
        "graphiql.mjs", live_server.url, token, str(screenshot), str(tmp_path / "profile")
    )
    assert_clean(result)
    assert result["title"] == "stridegraph GraphiQL"
    assert json.loads(result["typedHeaders"]) == {"Authorization": f"Bearer {token}"}
    assert result["response"] == {"data": {"me": {"username": "browsing", "accessType": "ADMIN"}}}
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
    # headers are not persisted: not in storage, not back after a reload
    assert token not in result["storageBeforeReload"]
    assert token not in result["storageAfterReload"]
    assert token not in result["headersAfterReload"]
