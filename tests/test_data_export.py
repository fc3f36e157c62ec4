"""Data export (issue 18, point 5): a ZIP built in the background, mailed, listed,
downloadable by its owner only for 7 days, then purged with its file; one at a time and a
few a day; JSON with a format name and version."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import zipfile

import pytest
from sqlalchemy import select, update

from stridegraph.db.enums import Language
from stridegraph.db.models import DataExport, IdentityProviderLink, Passkey
from stridegraph.domain import export, retention
from tests.helpers import login_token, make_user, scoped_token
from tests.smtp import body_text, links

REQUEST = """mutation { requestDataExport {
  dataExport { id state createdAt downloadUrl } errors { code message } } }"""
MINE = "{ myDataExports { id state sizeBytes expiresAt downloadUrl } }"


@pytest.fixture
def settings(settings, smtp):
    return settings.with_(smtp_url=smtp.url)


async def rows(db) -> list[DataExport]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(select(DataExport).order_by(DataExport.id))).all())  # type: ignore[arg-type]


async def ready_export(gql, token) -> dict:
    answer = (await gql.data(REQUEST, token=token))["requestDataExport"]
    assert answer["errors"] == []
    assert answer["dataExport"]["state"] == "PENDING"
    assert answer["dataExport"]["downloadUrl"] is None
    await export.wait_for_builds()
    (listed,) = (await gql.data(MINE, token=token))["myDataExports"]
    assert listed["state"] == "READY"
    return listed


async def download(http, url, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.get(url.removeprefix("http://testserver"), headers=headers)


async def test_an_export_is_built_mailed_and_downloaded_by_its_owner(gql, http, services, db, smtp):
    alice = await make_user(
        services, "alice", name="Alice Liddell", profile={"preferred_language": Language.FR}
    )
    token = await login_token(services, alice)
    await scoped_token(services, alice, ["profile:read"])
    listed = await ready_export(gql, token)
    assert listed["sizeBytes"] > 0
    expires = dt.datetime.fromisoformat(listed["expiresAt"])
    assert abs(expires - dt.datetime.now(dt.UTC) - dt.timedelta(days=7)) < dt.timedelta(hours=1)

    messages = await smtp.wait_for(2)  # the new API token's notice, and the export's
    assert any("jeton d'API" in m["Subject"] for m in messages)
    (mail,) = [m for m in messages if "export" in m["Subject"]]
    assert mail["To"].addresses[0].addr_spec == "alice@example.com"
    assert mail["Subject"] == "Votre export de données de testserver est prêt"
    assert listed["downloadUrl"] in links(mail)
    assert "7" in body_text(mail)

    response = await download(http, listed["downloadUrl"], token)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {
        "README.txt",
        "manifest.json",
        "profile.json",
        "privacy_settings.json",
        "sessions.json",
        "api_tokens.json",
        "identities.json",
        "security_events.json",
    } <= names
    readme = archive.read("README.txt").decode()
    assert "Vos données" in readme and "alice" in readme  # the user's language
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "stridegraph-export" and manifest["version"] == 1
    for name in names - {"README.txt"}:
        document = json.loads(archive.read(name))
        assert document["format"] == "stridegraph-export"
        assert document["version"] == export.VERSION
    profile = json.loads(archive.read("profile.json"))["data"]
    assert profile["username"] == "alice" and profile["name"] == "Alice Liddell"
    tokens = json.loads(archive.read("api_tokens.json"))["data"]
    assert len(tokens) == 1 and tokens[0]["scopes"] == "profile:read"
    history = json.loads(archive.read("security_events.json"))["data"]
    assert "DATA_EXPORT_REQUESTED" in {e["type"] for e in history}
    everything = b"".join(archive.read(n) for n in names).decode()
    for secret_column in ("password_hash", "token_hash", "access_token_hash", "mfa_secret"):
        assert secret_column not in everything
    assert "$argon2" not in everything


async def test_only_the_owner_may_download_and_only_while_it_lasts(gql, http, services, db):
    alice = await make_user(services, "alice")
    bob = await make_user(services, "bob")
    token = await login_token(services, alice)
    listed = await ready_export(gql, token)
    url = listed["downloadUrl"]
    assert (await download(http, url)).status_code == 401
    assert (await download(http, url, "sga_not-a-real-token")).status_code == 401
    assert (await download(http, url, await login_token(services, bob))).status_code == 404
    no_scope = await scoped_token(services, alice, ["users:read"])
    assert (await download(http, url, no_scope)).status_code == 403
    assert (
        await http.get("/exports/999999", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 404
    assert (
        await http.get("/exports/%2e%2e", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 404

    (row,) = await rows(db)
    path = export.exports_dir(services) / row.file_name
    assert path.is_file()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    async with db.engine.begin() as conn:
        await conn.execute(update(DataExport).values(expires_at=past))
    assert (await download(http, url, token)).status_code == 404
    assert (await gql.data(MINE, token=token))["myDataExports"][0]["downloadUrl"] is None

    report = await retention.purge(services)
    assert report.counts["data_exports"] == 1
    assert await rows(db) == []
    assert not path.exists()


async def test_one_export_at_a_time_and_a_few_a_day(gql, services, db):
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    # an export being made right now (another worker's build in progress)
    async with db.engine.begin() as conn:
        await conn.execute(
            DataExport.__table__.insert().values(
                user_id=alice.id, state="pending", created_at=dt.datetime.now(dt.UTC)
            )
        )
    second = (await gql.data(REQUEST, token=token))["requestDataExport"]
    assert [e["code"] for e in second["errors"]] == ["TOO_MANY_ATTEMPTS"]
    assert second["dataExport"] is None
    assert [r.state for r in await rows(db)] == ["pending"]  # nothing changed
    async with db.engine.begin() as conn:
        await conn.execute(update(DataExport).values(state="ready"))
    for _ in range(services.settings.export_max_per_day - 1):
        assert (await gql.data(REQUEST, token=token))["requestDataExport"]["errors"] == []
        await export.wait_for_builds()
    refused = (await gql.data(REQUEST, token=token))["requestDataExport"]
    assert [e["code"] for e in refused["errors"]] == ["TOO_MANY_ATTEMPTS"]
    assert len(await rows(db)) == services.settings.export_max_per_day


async def test_a_build_that_died_does_not_block_forever(gql, services, db):
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    stale = dt.datetime.now(dt.UTC) - export.BUILD_TIMEOUT - dt.timedelta(minutes=1)
    async with db.engine.begin() as conn:
        await conn.execute(
            DataExport.__table__.insert().values(
                user_id=alice.id, state="pending", created_at=stale
            )
        )
    await ready_export_after_stale(gql, token)
    states = sorted(r.state for r in await rows(db))
    assert states == ["failed", "ready"]


async def ready_export_after_stale(gql, token) -> None:
    answer = (await gql.data(REQUEST, token=token))["requestDataExport"]
    assert answer["errors"] == []
    await export.wait_for_builds()


async def test_exports_need_a_signed_in_viewer(gql):
    answer = await gql.execute(REQUEST)
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    answer = await gql.execute(MINE)
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_passkeys_and_identities_are_exported_without_key_material(gql, http, services, db):
    alice = await make_user(services, "alice")
    bob = await make_user(services, "bob")
    credential_id, public_key = b"alice-credential-id-0001", b"alice-public-key-bytes"
    when = dt.datetime(2026, 5, 4, 3, 2, 1, tzinfo=dt.UTC)

    def passkey(user_id: int, name: str, cred: bytes, transports: str) -> Passkey:
        return Passkey(
            user_id=user_id,
            credential_id=cred,
            public_key=public_key,
            sign_count=41,
            transports=transports,
            aaguid="00000000-0000-0000-0000-000000000000",
            backup_eligible=True,
            backed_up=False,
            name=name,
            created_at=when,
            last_used_at=when + dt.timedelta(days=1),
        )

    async with services.sessions() as session, session.begin():
        session.add_all(
            [
                passkey(alice.id, "Laptop", credential_id, "internal,hybrid"),
                passkey(bob.id, "Bob's key", b"bob-credential", "usb"),
                IdentityProviderLink(
                    user_id=alice.id, provider="strava", subject="ext-42", created_at=when
                ),
                IdentityProviderLink(user_id=bob.id, provider="strava", subject="ext-bob"),
            ]
        )
    token = await login_token(services, alice)
    listed = await ready_export(gql, token)
    response = await download(http, listed["downloadUrl"], token)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    document = json.loads(archive.read("passkeys.json"))
    assert (document["format"], document["part"]) == ("stridegraph-export", "passkeys")
    (row,) = document["data"]
    assert row.pop("id") > 0
    assert row == {
        "name": "Laptop",
        "created_at": "2026-05-04T03:02:01+00:00",
        "last_used_at": "2026-05-05T03:02:01+00:00",
        "backup_eligible": True,
        "backed_up": False,
        "transports": ["internal", "hybrid"],
    }
    (link,) = json.loads(archive.read("identities.json"))["data"]
    assert link.pop("id") > 0
    assert link == {
        "provider": "strava",
        "subject": "ext-42",
        "created_at": "2026-05-04T03:02:01+00:00",
    }
    assert "passkeys.json" in json.loads(archive.read("manifest.json"))["parts"]
    assert "passkeys.json" in archive.read("README.txt").decode()
    everything = b"".join(archive.read(n) for n in archive.namelist())
    for material in (credential_id, public_key):
        for form in (
            material,
            base64.b64encode(material),
            base64.urlsafe_b64encode(material).rstrip(b"="),
        ):
            assert form not in everything
        assert material.hex().encode() not in everything
    assert b"ext-bob" not in everything and b"Bob's key" not in everything
