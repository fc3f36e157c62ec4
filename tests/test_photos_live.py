"""Against the real server (uvicorn in a subprocess): every kind of bad upload is refused,
nothing is stored, and the server keeps answering; a good upload is then served."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.conftest import multipart_fields
from tests.helpers import login_token, make_user
from tests.photos_support import BAD_INPUTS, UPLOAD, jpeg_with_metadata, oversized

pytestmark = pytest.mark.slow


def files_in(directory) -> list[str]:
    return sorted(os.listdir(directory)) if directory.exists() else []


async def test_bad_uploads_leave_the_server_healthy(live_server, services, settings):
    user = await make_user(services, "alice")
    token = await login_token(services, user)
    headers = {"Authorization": f"Bearer {token}", "Apollo-Require-Preflight": "1"}
    cases = {
        **{name: (f, data, kind, code) for name, (f, data, kind, code) in BAD_INPUTS.items()},
        "oversized": (
            "big.jpg",
            oversized(settings.max_upload_bytes),
            "image/jpeg",
            "FILE_TOO_LARGE",
        ),
    }
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:

        async def send(filename: str, data: bytes, kind: str) -> httpx.Response:
            fields = multipart_fields(UPLOAD, {}, {"file": (filename, data, kind)})
            return await client.post("/graphql", headers=headers, **fields)

        for name, (filename, data, kind, code) in sorted(cases.items()):
            response = await send(filename, data, kind)
            assert response.status_code == 200, (name, response.text)
            errors = response.json()["data"]["uploadMyPhoto"]["errors"]
            assert [e["code"] for e in errors] == [code], name
            assert files_in(settings.photos_dir) == [], name
            assert (await client.get("/healthz")).status_code == 200, name

        # far over the limit: refused before the body is read, and the server carries on
        try:
            big = await send(
                "huge.jpg", oversized(settings.max_upload_bytes + 256 * 1024), "image/jpeg"
            )
            assert big.status_code == 413
        except httpx.TransportError:
            pass  # the server may close the connection instead of reading the rest
        assert (await client.get("/healthz")).status_code == 200

        good = await send("me.jpg", jpeg_with_metadata(), "image/jpeg")
        payload = good.json()["data"]["uploadMyPhoto"]
        assert payload["errors"] == []
        [name] = files_in(settings.photos_dir)
        photo = await client.get(
            payload["user"]["photoUrl"].replace(settings.public_url, live_server.url),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert photo.status_code == 200
        assert photo.headers["content-type"] == "image/webp"
        assert photo.content == (settings.photos_dir / name).read_bytes()
    assert "Traceback" not in live_server.log()
