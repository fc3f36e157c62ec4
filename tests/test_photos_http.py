"""GET /photos/{userId}: the visibility of ``user(id:)``, ETag/304, caching and safety headers,
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from strawberry import relay

from stridegraph.db.models import ServerSettings
from stridegraph.db.models import User as UserRow
from stridegraph.domain.scopes import PROFILE_READ, USERS_READ
from tests.conftest import share_app_per_module
from tests.helpers import login_token, make_user, scoped_token
from tests.photos_support import UPLOAD, png

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()


def gid(user: Any) -> str:
    return relay.to_base64("User", user.id)


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
async def world(gql, services):
    """Alice with a photo, Bob (another regular user) and an admin, each signed in."""
    alice = await make_user(services, "alice")
    bob = await make_user(services, "bob")
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    tokens = {
        "alice": await login_token(services, alice),
        "bob": await login_token(services, bob),
        "admin": await login_token(services, admin),
    }
    response = await gql.upload(
        UPLOAD, None, {"file": ("a.png", png((120, 90)), "image/png")}, token=tokens["alice"]
    )
    url = response.json()["data"]["uploadMyPhoto"]["user"]["photoUrl"]
    return {"alice": alice, "bob": bob, "admin": admin, "tokens": tokens, "url": url}


async def test_photo_url_serves_the_stored_bytes(http, world, settings):
    path = world["url"].removeprefix("http://testserver")
    response = await http.get(path, headers=bearer(world["tokens"]["bob"]))

    assert response.status_code == 200
    name = next(settings.photos_dir.iterdir()).name
    assert response.content == (settings.photos_dir / name).read_bytes()
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["etag"] == f'"{name.removesuffix(".webp")}"'  # strong
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"].startswith("private")
    assert "authorization" in response.headers["vary"].lower()


async def test_global_and_integer_ids_name_the_same_photo(http, world):
    token = world["tokens"]["bob"]
    by_int = await http.get(f"/photos/{world['alice'].id}", headers=bearer(token))
    by_gid = await http.get(f"/photos/{gid(world['alice'])}", headers=bearer(token))
    assert by_int.status_code == by_gid.status_code == 200
    assert by_int.content == by_gid.content


async def test_a_username_names_the_same_photo_with_the_same_visibility(http, db, world):
    token = world["tokens"]["bob"]
    by_id = await http.get(f"/photos/{world['alice'].id}", headers=bearer(token))
    for name in ("alice", "ALICE"):
        by_name = await http.get(f"/photos/{name}", headers=bearer(token))
        assert by_name.status_code == 200, name
        assert by_name.content == by_id.content
        assert by_name.headers["etag"] == by_id.headers["etag"]
    for path in ("/photos/nobody", "/photos/bob", "/photos/a%20b", "/photos/" + "a" * 251):
        assert (await http.get(path, headers=bearer(token))).status_code == 404, path
    assert (await http.get("/photos/alice")).status_code == 404  # anonymous, profiles private
    async with db.engine.begin() as conn:
        await conn.execute(
            update(UserRow).where(UserRow.id == world["alice"].id).values(active=False)
        )
    assert (await http.get("/photos/alice", headers=bearer(token))).status_code == 404
    admin = bearer(world["tokens"]["admin"])
    assert (await http.get("/photos/alice", headers=admin)).status_code == 200


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"nope", {etag}', "*"],
    ids=["exact", "weak", "list", "star"],
)
async def test_a_matching_etag_is_304(http, world, if_none_match):
    path, token = f"/photos/{world['alice'].id}", world["tokens"]["alice"]
    first = await http.get(path, headers=bearer(token))
    etag = first.headers["etag"]
    again = await http.get(
        path, headers={**bearer(token), "If-None-Match": if_none_match.format(etag=etag)}
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag


async def test_a_stale_etag_gets_the_new_photo(http, gql, world):
    path, token = f"/photos/{world['alice'].id}", world["tokens"]["alice"]
    old = (await http.get(path, headers=bearer(token))).headers["etag"]
    await gql.upload(
        UPLOAD, None, {"file": ("b.png", png((50, 50), color=(9, 9, 9)), "image/png")}, token=token
    )
    fresh = await http.get(path, headers={**bearer(token), "If-None-Match": old})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] != old


async def test_anonymous_needs_public_profiles(http, db, world):
    path = f"/photos/{world['alice'].id}"
    assert (await http.get(path)).status_code == 404
    async with db.engine.begin() as conn:
        await conn.execute(update(ServerSettings).values(public_profiles=True))
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("public")


async def test_inactive_users_are_hidden_from_all_but_admins(http, db, world):
    async with db.engine.begin() as conn:
        await conn.execute(update(ServerSettings).values(public_profiles=True))
        await conn.execute(
            update(UserRow)
            .where(UserRow.id == world["alice"].id)
            .values(pending_admin_approval=True)
        )
    path = f"/photos/{world['alice'].id}"
    assert (await http.get(path)).status_code == 404
    assert (await http.get(path, headers=bearer(world["tokens"]["bob"]))).status_code == 404
    assert (await http.get(path, headers=bearer(world["tokens"]["admin"]))).status_code == 200


async def test_scopes_decide_like_user_by_id(http, services, world):
    """A token without users:read sees no one else's photo; its own with profile:read."""
    alice, bob = world["alice"], world["bob"]
    alice_profile_only = await scoped_token(services, alice, [PROFILE_READ])
    bob_profile_only = await scoped_token(services, bob, [PROFILE_READ])
    bob_users_read = await scoped_token(services, bob, [USERS_READ])
    path = f"/photos/{alice.id}"
    assert (await http.get(path, headers=bearer(alice_profile_only))).status_code == 200
    assert (await http.get(path, headers=bearer(bob_profile_only))).status_code == 404
    assert (await http.get(path, headers=bearer(bob_users_read))).status_code == 200


@pytest.mark.parametrize("header", ["Bearer sga_" + "x" * 43, "Bearer ", "Basic abc"])
async def test_a_bad_token_is_401_not_anonymous(http, db, world, header):
    async with db.engine.begin() as conn:
        await conn.execute(update(ServerSettings).values(public_profiles=True))
    response = await http.get(f"/photos/{world['alice'].id}", headers={"Authorization": header})
    assert response.status_code == 401
    assert "invalid_token" in response.headers["www-authenticate"]


async def test_everything_else_is_the_same_404(http, world):
    token = world["tokens"]["admin"]
    paths = [
        f"/photos/{world['bob'].id}",  # no photo
        "/photos/999999",  # no such user
        f"/photos/{relay.to_base64('User', 999999)}",
        f"/photos/{relay.to_base64('Session', world['alice'].id)}",
        "/photos/..%2E%2E",
        "/photos/" + "9" * 40,
    ]
    for path in paths:
        response = await http.get(path, headers=bearer(token))
        assert response.status_code == 404, path
        assert response.text == "Not found"
        assert response.headers["x-content-type-options"] == "nosniff"
    # a path that is not one segment does not even reach the endpoint
    assert (await http.get("/photos/..%2F..%2Fetc%2Fpasswd")).status_code == 404


async def test_a_missing_file_is_404(http, world, settings):
    for entry in settings.photos_dir.iterdir():
        entry.unlink()
    response = await http.get(
        f"/photos/{world['alice'].id}", headers=bearer(world["tokens"]["alice"])
    )
    assert response.status_code == 404


async def test_head_answers_headers_only(http, world):
    response = await http.head(
        f"/photos/{world['alice'].id}", headers=bearer(world["tokens"]["bob"])
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert response.content == b""
