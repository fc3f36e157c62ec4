"""OpenID Connect sign-in against a real provider (issue 17).

The certified ``oidc-provider`` from npm runs from ``tests/node_oidc/provider.mjs`` on a free
port, shared by the module's tests. A test signs in at the provider over HTTP with httpx
following its redirects (the provider's interaction signs in the account named by
``login_hint`` and grants consent at once), up to the redirect back to the app, whose
``code`` and ``state`` then go to ``finishExternalLogin``. The provider's test controls
change an account's claims, rotate its signing key, or have it re-sign the next ID token
with a claim changed (another audience, an expired token, another nonce), always with its
own current key: the token is genuinely the provider's, only its content is wrong.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest
from sqlalchemy import select, text
from strawberry import relay

from stridegraph.config import ConfigError, ConfiguredProvider, Settings, load_settings
from stridegraph.db.enums import Language
from stridegraph.db.models import SecurityEvent
from stridegraph.domain.identity_client import OidcClient, ProviderUnavailable
from stridegraph.domain.unit import Services
from tests.conftest import IN_CI, Database, GraphQLClient, free_port, make_settings
from tests.helpers import PASSWORD, login_token, make_user
from tests.mfa_support import COMPLETE, Clock, code_at, enrol
from tests.smtp import body_text

NODE_PROJECT = Path(__file__).parent / "node_oidc"
REDIRECT = "http://127.0.0.1:9/callback"
CLIENT_ID, CLIENT_SECRET = "stridegraph", "stridegraph-client-secret"

CREATE = """mutation($input: CreateIdentityProviderInput!) { createIdentityProvider(input: $input)
  { identityProvider { id slug name issuer clientId hasClientSecret scopes allowSignup
    allowedDomains adminClaim enabled fromConfiguration } errors { field code } } }"""
UPDATE = """mutation($id: ID!, $input: UpdateIdentityProviderInput!) {
  updateIdentityProvider(id: $id, input: $input)
  { identityProvider { id name issuer enabled } errors { field code } } }"""
DELETE = """mutation($id: ID!) { deleteIdentityProvider(id: $id)
  { deletedIdentityProviderId errors { field code } } }"""
PROVIDERS = "{ identityProviders { id slug name enabled fromConfiguration hasClientSecret } }"
SIGN_IN_PROVIDERS = "{ signInProviders { id name iconUrl } }"
START = """mutation($p: ID!, $r: String!) { startExternalLogin(provider: $p, redirectUri: $r)
  { authorizationUrl errors { field code } } }"""
FINISH = """mutation($code: String!, $state: String!) { finishExternalLogin(code: $code, state: $state)
  { accessToken refreshToken mfaRequired mfaToken user { id username email accessType
    externalAuthCount } errors { field code message } } }"""
START_LINK = """mutation($p: ID!, $r: String!) { startLinkIdentity(provider: $p, redirectUri: $r)
  { authorizationUrl errors { field code } } }"""
FINISH_LINK = """mutation($code: String!, $state: String!) { finishLinkIdentity(code: $code, state: $state)
  { identity { id subject provider { name } } errors { field code } } }"""
MY_IDENTITIES = "{ myIdentities { id subject provider { id name } } me { externalAuthCount } }"
UNLINK = "mutation($id: ID!) { unlinkIdentity(id: $id) { identity { id } errors { field code } } }"
USER_IDENTITIES = "query($id: ID!) { userIdentities(id: $id) { id subject } }"
REMOVE = """mutation($id: ID!) { removeUserIdentity(id: $id)
  { identity { id } errors { field code } } }"""


# --------------------------------------------------------------------------- the provider


@dataclass
class OidcServer:
    process: subprocess.Popen[bytes]
    log_path: Path
    issuer: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def control(self, what: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(f"{self.issuer}/_test/{what}", json=body or {}, timeout=10)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]


def node_or_skip() -> str:
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node 20 or later is required"
    elif not (NODE_PROJECT / "node_modules").is_dir():
        problem = f"run `npm ci` in {NODE_PROJECT} (.ci/run does)"
    if problem is not None:
        if IN_CI:
            pytest.fail(f"{problem} under CI=true")
        pytest.skip(problem)
    assert node is not None
    return node


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    node = node_or_skip()
    port = free_port()
    log_path = tmp_path_factory.mktemp("oidc") / "provider.log"
    clients = [
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT]}
    ]
    process = subprocess.Popen(
        [node, "provider.mjs"],
        cwd=NODE_PROJECT,
        env={**os.environ, "OIDC_PORT": str(port), "OIDC_CLIENTS": json.dumps(clients)},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = OidcServer(process, log_path, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while '"ready"' not in server.log():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the OpenID provider did not start:\n{server.log()}")
        time.sleep(0.1)
    yield server
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def settings(db: Database, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    made = make_settings(
        db.url, tmp_path / "data", oidc_redirect_uris=(REDIRECT,), oidc_timeout_seconds=5.0
    )
    if "smtp" in request.fixturenames:  # mail on for the tests that read it
        made = made.with_(smtp_url=request.getfixturevalue("smtp").url)
    return made


# --------------------------------------------------------------------------- helpers


async def admin_token(services: Services) -> str:
    admin = await make_user(services, "root", admin=True)
    return await login_token(services, admin)


async def add_provider(
    gql: GraphQLClient, token: str, issuer: str, **fields: Any
) -> dict[str, Any]:
    form = {
        "slug": "test-idp",
        "name": "Test IdP",
        "issuer": issuer,
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        **fields,
    }
    data = await gql.data(CREATE, {"input": form}, token=token)
    assert data["createIdentityProvider"]["errors"] == [], data
    return data["createIdentityProvider"]["identityProvider"]  # type: ignore[no-any-return]


async def allow_signup(gql: GraphQLClient, token: str) -> None:
    data = await gql.data(
        "mutation { updateServerSettings(input: {signupEnabled: true}) { errors { code } } }",
        token=token,
    )
    assert data["updateServerSettings"]["errors"] == []


async def authorize(url: str, login_hint: str) -> tuple[str, str]:
    """Sign in at the provider as ``login_hint`` and return the code and state it sends
    back to the redirect URI (not followed: nothing serves it)."""
    async with httpx.AsyncClient(timeout=10) as browser:
        response = await browser.get(f"{url}&login_hint={login_hint}")
        for _ in range(10):
            location = response.headers.get("location")
            assert location, (response.status_code, response.text[:500])
            if location.startswith(REDIRECT):
                query = dict(parse_qsl(urlsplit(location).query))
                assert "code" in query, query
                return query["code"], query["state"]
            response = await browser.get(urljoin(str(response.url), location))
    raise AssertionError("the provider never redirected back")


async def start(gql: GraphQLClient, provider_id: str, token: str | None = None) -> str:
    data = await gql.data(START, {"p": provider_id, "r": REDIRECT}, token=token)
    assert data["startExternalLogin"]["errors"] == [], data
    return data["startExternalLogin"]["authorizationUrl"]  # type: ignore[no-any-return]


async def external_login(gql: GraphQLClient, provider_id: str, login_hint: str) -> dict[str, Any]:
    code, state = await authorize(await start(gql, provider_id), login_hint)
    data = await gql.data(FINISH, {"code": code, "state": state})
    return data["finishExternalLogin"]  # type: ignore[no-any-return]


async def count(db: Database, table: str, where: str = "1=1") -> int:
    async with db.engine.connect() as conn:
        found = await conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"))
        return int(found.scalar_one())


# --------------------------------------------------------------------------- providers


async def test_admins_manage_providers_and_the_secret_stays_secret(
    gql: GraphQLClient, services: Services, db: Database
) -> None:
    token = await admin_token(services)
    made = await add_provider(
        gql,
        token,
        "https://sso.example.org/realms/main/",
        scopes=["openid", "email"],
        allowedDomains=["Example.org"],
        adminClaim="groups=admins",
        iconUrl="https://sso.example.org/icon.svg",
    )
    assert made["issuer"] == "https://sso.example.org/realms/main"
    assert made["hasClientSecret"] and made["scopes"] == ["openid", "email"]
    assert made["allowedDomains"] == ["example.org"] and made["adminClaim"] == "groups=admins"
    assert not made["fromConfiguration"]
    # stored encrypted with the MFA cipher, readable back by nobody through the API
    async with db.engine.connect() as conn:
        stored = (
            await conn.execute(text("SELECT client_secret_encrypted FROM identity_providers"))
        ).scalar_one()
    assert CLIENT_SECRET not in stored
    assert services.cipher.decrypt(stored) == CLIENT_SECRET
    schema = (await gql.data("{ _service { sdl } }"))["_service"]["sdl"]
    block = schema.split("type IdentityProvider ", 1)[1].split("}", 1)[0]
    assert "clientSecret" not in block

    # bad input: every problem named, nothing stored
    bad = await gql.data(
        CREATE,
        {
            "input": {
                "slug": "Bad Slug",
                "name": "",
                "issuer": "ftp://x",
                "clientId": "c",
                "clientSecret": "s",
                "scopes": ["email"],
            }
        },
        token=token,
    )
    fields = {(e["field"], e["code"]) for e in bad["createIdentityProvider"]["errors"]}
    assert fields == {
        ("slug", "INVALID"),
        ("name", "REQUIRED"),
        ("issuer", "INVALID"),
        ("scopes", "INVALID"),
    }
    again = await gql.data(
        CREATE,
        {
            "input": {
                "slug": "test-idp",
                "name": "Again",
                "issuer": "https://x.example.org",
                "clientId": "c",
                "clientSecret": "s",
            }
        },
        token=token,
    )
    assert again["createIdentityProvider"]["errors"] == [{"field": "slug", "code": "INVALID"}]
    assert await count(db, "identity_providers") == 1

    updated = await gql.data(
        UPDATE, {"id": made["id"], "input": {"name": "Main SSO", "enabled": False}}, token=token
    )
    assert updated["updateIdentityProvider"]["identityProvider"]["name"] == "Main SSO"
    refused = await gql.data(
        UPDATE, {"id": made["id"], "input": {"issuer": "nope", "name": "Z"}}, token=token
    )
    assert refused["updateIdentityProvider"]["errors"] == [{"field": "issuer", "code": "INVALID"}]
    listed = (await gql.data(PROVIDERS, token=token))["identityProviders"]
    assert [(p["name"], p["enabled"]) for p in listed] == [("Main SSO", False)]
    # the public list: enabled providers only, and only their public part
    assert (await gql.data(SIGN_IN_PROVIDERS))["signInProviders"] == []
    await gql.data(UPDATE, {"id": made["id"], "input": {"enabled": True}}, token=token)
    assert (await gql.data(SIGN_IN_PROVIDERS))["signInProviders"] == [
        {"id": made["id"], "name": "Main SSO", "iconUrl": "https://sso.example.org/icon.svg"}
    ]

    deleted = await gql.data(DELETE, {"id": made["id"]}, token=token)
    assert deleted["deleteIdentityProvider"] == {
        "deletedIdentityProviderId": made["id"],
        "errors": [],
    }
    gone = await gql.data(DELETE, {"id": made["id"]}, token=token)
    assert gone["deleteIdentityProvider"]["errors"] == [{"field": "id", "code": "NOT_FOUND"}]
    assert await count(db, "identity_providers") == 0


async def test_providers_declared_in_configuration(
    db: Database, tmp_path: Path, gql: GraphQLClient, services: Services
) -> None:
    entry = {
        "slug": "authentik",
        "name": "Authentik",
        "issuer": "https://auth.example.org/application/o/stridegraph/",
        "clientId": "sg",
        "clientSecret": "from-the-environment",
        "allowSignup": True,
        "allowedDomains": ["example.org"],
    }
    env = {"STRIDEGRAPH_DATA_DIR": str(tmp_path / "d"), "STRIDEGRAPH_OIDC_REDIRECT_URIS": REDIRECT}
    loaded = load_settings({**env, "STRIDEGRAPH_IDENTITY_PROVIDERS": json.dumps([entry])})
    assert loaded.identity_providers == (
        ConfiguredProvider(
            slug="authentik",
            name="Authentik",
            issuer="https://auth.example.org/application/o/stridegraph",
            client_id="sg",
            client_secret="from-the-environment",
            allow_signup=True,
            allowed_domains=("example.org",),
        ),
    )
    assert loaded.oidc_redirect_uris == (REDIRECT,)
    path = tmp_path / "providers.json"
    path.write_text(json.dumps([entry]))
    from_file = load_settings({**env, "STRIDEGRAPH_IDENTITY_PROVIDERS": str(path)})
    assert from_file.identity_providers == loaded.identity_providers
    for bad in ("[{", '{"slug": "x"}', json.dumps([{**entry, "issuer": "x"}]), "/nonexistent"):
        with pytest.raises(ConfigError, match="IDENTITY_PROVIDERS"):
            load_settings({**env, "STRIDEGRAPH_IDENTITY_PROVIDERS": bad})

    # served: listed like any other, read-only through the API
    services.settings = services.settings.with_(identity_providers=loaded.identity_providers)
    token = await admin_token(services)
    listed = (await gql.data(PROVIDERS, token=token))["identityProviders"]
    assert [(p["slug"], p["fromConfiguration"], p["enabled"]) for p in listed] == [
        ("authentik", True, True)
    ]
    refused = await gql.data(UPDATE, {"id": listed[0]["id"], "input": {"name": "X"}}, token=token)
    assert refused["updateIdentityProvider"]["errors"] == [{"field": "id", "code": "INVALID"}]
    refused = await gql.data(DELETE, {"id": listed[0]["id"]}, token=token)
    assert refused["deleteIdentityProvider"]["errors"] == [{"field": "id", "code": "INVALID"}]
    async with services.sessions() as session:
        row = (await session.execute(text("SELECT display_name FROM identity_providers"))).one()
    assert row[0] == "Authentik"


# --------------------------------------------------------------------------- sign-in


async def test_first_sign_in_creates_an_account_when_allowed(
    gql: GraphQLClient, services: Services, db: Database, oidc: OidcServer
) -> None:
    token = await admin_token(services)
    provider = await add_provider(
        gql, token, oidc.issuer, allowSignup=True, adminClaim="groups=admins"
    )
    oidc.control("accounts", {"nina": {"email": "nina@example.org", "groups": ["admins"]}})
    # sign-up off on the server: no account
    refused = await external_login(gql, provider["id"], "nina")
    assert refused["accessToken"] is None
    assert [e["code"] for e in refused["errors"]] == ["SIGNUP_DISABLED"]
    assert await count(db, "users") == 1
    await allow_signup(gql, token)
    first = await external_login(gql, provider["id"], "nina")
    assert first["errors"] == [] and first["accessToken"]
    assert first["user"]["username"] == "nina"
    assert first["user"]["email"] == "nina@example.org"
    assert first["user"]["accessType"] == "ADMIN"  # the admin claim
    assert first["user"]["externalAuthCount"] == 1
    nina = row_id(first["user"]["id"])
    made = [e for e in await security_events(db) if e.subject_id == nina]
    assert [(e.type, e.actor_id, e.detail.get("method")) for e in made] == [
        ("IDENTITY_LINKED", nina, None),
        ("SIGN_IN_SUCCEEDED", nina, "PROVIDER"),
    ]
    again = await external_login(gql, provider["id"], "nina")
    assert again["user"]["id"] == first["user"]["id"]
    assert await count(db, "users") == 2
    assert await count(db, "user_identity_providers") == 1
    me = await gql.data(MY_IDENTITIES, token=again["accessToken"])
    assert me["me"]["externalAuthCount"] == 1
    assert [i["subject"] for i in me["myIdentities"]] == ["nina"]


async def test_first_sign_in_without_account_creation_and_no_linking_by_email(
    gql: GraphQLClient, services: Services, db: Database, oidc: OidcServer
) -> None:
    token = await admin_token(services)
    await make_user(services, "alice", email="alice@example.org")
    await allow_signup(gql, token)
    closed = await add_provider(gql, token, oidc.issuer)  # allowSignup false
    oidc.control("accounts", {"alice-ext": {"email": "alice@example.org"}})
    answer = await external_login(gql, closed["id"], "alice-ext")
    assert [e["code"] for e in answer["errors"]] == ["SIGNUP_DISABLED"]
    assert answer["accessToken"] is None
    # a provider that may create accounts still never takes over alice's by her address
    await gql.data(UPDATE, {"id": closed["id"], "input": {"allowSignup": True}}, token=token)
    answer = await external_login(gql, closed["id"], "alice-ext")
    assert [e["code"] for e in answer["errors"]] == ["EMAIL_TAKEN"]
    assert answer["accessToken"] is None
    # an address the provider did not verify, or of a domain it may not serve
    oidc.control("accounts", {"unverified": {"email_verified": False}})
    answer = await external_login(gql, closed["id"], "unverified")
    assert [e["code"] for e in answer["errors"]] == ["EMAIL_NOT_VERIFIED"]
    await gql.data(
        UPDATE, {"id": closed["id"], "input": {"allowedDomains": ["example.com"]}}, token=token
    )
    answer = await external_login(gql, closed["id"], "someone")
    assert [e["code"] for e in answer["errors"]] == ["INVALID"]
    assert await count(db, "users") == 2
    assert await count(db, "user_identity_providers") == 0
    assert await count(db, "sessions") == 1  # the admin's


async def test_a_wrong_or_replayed_state(
    gql: GraphQLClient, services: Services, db: Database, oidc: OidcServer
) -> None:
    token = await admin_token(services)
    provider = await add_provider(gql, token, oidc.issuer, allowSignup=True)
    await allow_signup(gql, token)
    code, state = await authorize(await start(gql, provider["id"]), "rita")
    for wrong in ("", "nonsense", "sgs_" + "A" * 43, state + "x"):
        data = await gql.data(FINISH, {"code": code, "state": wrong})
        assert [e["code"] for e in data["finishExternalLogin"]["errors"]] == ["INVALID_TOKEN"]
    assert await count(db, "users") == 1
    first = await gql.data(FINISH, {"code": code, "state": state})
    assert first["finishExternalLogin"]["errors"] == []
    replay = await gql.data(FINISH, {"code": code, "state": state})
    assert [e["code"] for e in replay["finishExternalLogin"]["errors"]] == ["INVALID_TOKEN"]
    assert replay["finishExternalLogin"]["accessToken"] is None
    # stored as a digest only
    async with db.engine.connect() as conn:
        hashes = (await conn.execute(text("SELECT state_hash FROM oauth_states"))).scalars().all()
    assert hashes and all(state.encode() not in bytes(h) for h in hashes)
    # a state also expires after ten minutes
    code, state = await authorize(await start(gql, provider["id"]), "rita")
    real_clock = services.clock
    services.clock = lambda: real_clock() + dt.timedelta(minutes=11)
    try:
        late = await gql.data(FINISH, {"code": code, "state": state})
    finally:
        services.clock = real_clock
    assert [e["code"] for e in late["finishExternalLogin"]["errors"]] == ["INVALID_TOKEN"]
    assert await count(db, "sessions") == 2  # the admin's and rita's one sign-in


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        ({"nonce": "someone-elses-nonce"}, "nonce"),
        ({"exp": -600}, "expired"),
        ({"aud": "another-client"}, "audience"),
        ({"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}, "at_hash"),
    ],
)
async def test_an_id_token_that_fails_a_check(
    gql: GraphQLClient,
    services: Services,
    db: Database,
    oidc: OidcServer,
    tamper: dict[str, Any],
    why: str,
) -> None:
    token = await admin_token(services)
    provider = await add_provider(gql, token, oidc.issuer, allowSignup=True)
    await allow_signup(gql, token)
    code, state = await authorize(await start(gql, provider["id"]), f"tampered-{why}")
    oidc.control("tamper", tamper)
    data = await gql.data(FINISH, {"code": code, "state": state})
    answer = data["finishExternalLogin"]
    assert [e["code"] for e in answer["errors"]] == ["INVALID_CODE"], answer
    assert answer["accessToken"] is None
    assert await count(db, "users") == 1
    assert await count(db, "sessions") == 1
    # the very same flow untampered passes (the check is what refused)
    assert (await external_login(gql, provider["id"], f"tampered-{why}"))["accessToken"]


async def test_a_matching_at_hash_passes(
    gql: GraphQLClient, services: Services, oidc: OidcServer
) -> None:
    token = await admin_token(services)
    provider = await add_provider(gql, token, oidc.issuer, allowSignup=True)
    await allow_signup(gql, token)
    code, state = await authorize(await start(gql, provider["id"]), "hashed")
    oidc.control("tamper", {"at_hash": "$correct"})
    data = await gql.data(FINISH, {"code": code, "state": state})
    assert data["finishExternalLogin"]["errors"] == []
    assert data["finishExternalLogin"]["accessToken"]


async def test_a_provider_with_rotated_keys(
    gql: GraphQLClient, services: Services, oidc: OidcServer
) -> None:
    token = await admin_token(services)
    provider = await add_provider(gql, token, oidc.issuer, allowSignup=True)
    await allow_signup(gql, token)
    first = await external_login(gql, provider["id"], "rotor")
    assert first["accessToken"], first
    old = httpx.get(f"{oidc.issuer}/jwks").json()["keys"][0]["kid"]
    new = oidc.control("rotate")["kid"]
    assert new != old
    second = await external_login(gql, provider["id"], "rotor")
    assert second["errors"] == [] and second["user"]["id"] == first["user"]["id"]


async def test_a_provider_that_is_down(
    gql: GraphQLClient, services: Services, db: Database, oidc: OidcServer
) -> None:
    token = await admin_token(services)
    down = await add_provider(gql, token, f"http://127.0.0.1:{free_port()}", slug="down")
    data = await gql.data(START, {"p": down["id"], "r": REDIRECT})
    assert data["startExternalLogin"] == {
        "authorizationUrl": None,
        "errors": [{"field": None, "code": "PROVIDER_UNAVAILABLE"}],
    }
    assert await count(db, "oauth_states") == 0
    # down between the start and the finish
    provider = await add_provider(gql, token, oidc.issuer, allowSignup=True)
    code, state = await authorize(await start(gql, provider["id"]), "late")
    moved = f"http://127.0.0.1:{free_port()}"
    await gql.data(UPDATE, {"id": provider["id"], "input": {"issuer": moved}}, token=token)
    data = await gql.data(FINISH, {"code": code, "state": state})
    assert [e["code"] for e in data["finishExternalLogin"]["errors"]] == ["PROVIDER_UNAVAILABLE"]
    assert await count(db, "sessions") == 1


async def test_start_refuses_a_redirect_uri_not_allowed(
    gql: GraphQLClient, services: Services, db: Database, oidc: OidcServer
) -> None:
    token = await admin_token(services)
    provider = await add_provider(gql, token, oidc.issuer)
    data = await gql.data(START, {"p": provider["id"], "r": "https://evil.example.net/cb"})
    assert data["startExternalLogin"]["errors"] == [{"field": "redirectUri", "code": "INVALID"}]
    unknown = await gql.data(START, {"p": "SWRlbnRpdHlQcm92aWRlcjo5OQ==", "r": REDIRECT})
    assert unknown["startExternalLogin"]["errors"] == [{"field": "provider", "code": "NOT_FOUND"}]
    assert await count(db, "oauth_states") == 0
    url = urlsplit(await start(gql, provider["id"]))
    query = dict(parse_qsl(url.query))
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    assert query["redirect_uri"] == REDIRECT and query["client_id"] == CLIENT_ID


# --------------------------------------------------------------------------- linking


async def test_linking_signing_in_and_unlinking(
    gql: GraphQLClient, services: Services, db: Database, oidc: OidcServer
) -> None:
    admin = await admin_token(services)
    provider = await add_provider(gql, admin, oidc.issuer)
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    # never linked by e-mail: alice's address at the provider signs nobody in
    oidc.control("accounts", {"alice-sso": {"email": "alice@example.com"}})
    assert (await external_login(gql, provider["id"], "alice-sso"))["accessToken"] is None

    data = await gql.data(START_LINK, {"p": provider["id"], "r": REDIRECT}, token=token)
    code, state = await authorize(data["startLinkIdentity"]["authorizationUrl"], "alice-sso")
    # a link state is not a sign-in state, and only alice may finish it
    wrong = await gql.data(FINISH, {"code": code, "state": state})
    assert [e["code"] for e in wrong["finishExternalLogin"]["errors"]] == ["INVALID_TOKEN"]
    data = await gql.data(START_LINK, {"p": provider["id"], "r": REDIRECT}, token=token)
    code, state = await authorize(data["startLinkIdentity"]["authorizationUrl"], "alice-sso")
    other = await login_token(services, await make_user(services, "mallory"))
    stolen = await gql.data(FINISH_LINK, {"code": code, "state": state}, token=other)
    assert [e["code"] for e in stolen["finishLinkIdentity"]["errors"]] == ["INVALID_TOKEN"]
    assert await count(db, "user_identity_providers") == 0

    data = await gql.data(START_LINK, {"p": provider["id"], "r": REDIRECT}, token=token)
    code, state = await authorize(data["startLinkIdentity"]["authorizationUrl"], "alice-sso")
    linked = await gql.data(FINISH_LINK, {"code": code, "state": state}, token=token)
    assert linked["finishLinkIdentity"]["errors"] == []
    identity = linked["finishLinkIdentity"]["identity"]
    assert identity["subject"] == "alice-sso" and identity["provider"]["name"] == "Test IdP"
    mine = await gql.data(MY_IDENTITIES, token=token)
    assert mine["me"]["externalAuthCount"] == 1
    assert [i["id"] for i in mine["myIdentities"]] == [identity["id"]]

    signed_in = await external_login(gql, provider["id"], "alice-sso")
    assert signed_in["errors"] == [] and signed_in["user"]["username"] == "alice"

    # the same identity cannot be linked twice
    data = await gql.data(START_LINK, {"p": provider["id"], "r": REDIRECT}, token=other)
    code, state = await authorize(data["startLinkIdentity"]["authorizationUrl"], "alice-sso")
    taken = await gql.data(FINISH_LINK, {"code": code, "state": state}, token=other)
    assert [e["code"] for e in taken["finishLinkIdentity"]["errors"]] == ["IDENTITY_ALREADY_LINKED"]

    # admins see and remove a user's links
    listed = await gql.data(USER_IDENTITIES, {"id": signed_in["user"]["id"]}, token=admin)
    assert [i["subject"] for i in listed["userIdentities"]] == ["alice-sso"]
    refused = await gql.data(UNLINK, {"id": identity["id"]}, token=other)
    assert refused["unlinkIdentity"]["errors"] == [{"field": "id", "code": "NOT_FOUND"}]
    unlinked = await gql.data(UNLINK, {"id": identity["id"]}, token=token)
    assert unlinked["unlinkIdentity"]["errors"] == []
    assert (await gql.data(MY_IDENTITIES, token=token))["me"]["externalAuthCount"] == 0
    assert await count(db, "user_identity_providers") == 0


async def test_linking_needs_recent_authentication(
    gql: GraphQLClient, services: Services, db: Database, oidc: OidcServer
) -> None:
    admin = await admin_token(services)
    provider = await add_provider(gql, admin, oidc.issuer)
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    real_clock = services.clock
    services.clock = lambda: real_clock() + dt.timedelta(minutes=10)
    try:
        stale = await gql.data(START_LINK, {"p": provider["id"], "r": REDIRECT}, token=token)
        assert [e["code"] for e in stale["startLinkIdentity"]["errors"]] == [
            "REAUTHENTICATION_REQUIRED"
        ]
        assert await count(db, "oauth_states") == 0
        proved = await gql.data(
            START_LINK.replace(
                "redirectUri: $r)", "redirectUri: $r, currentPassword: $pw)"
            ).replace("$r: String!)", "$r: String!, $pw: String)"),
            {"p": provider["id"], "r": REDIRECT, "pw": PASSWORD},
            token=token,
        )
    finally:
        services.clock = real_clock
    assert proved["startLinkIdentity"]["errors"] == []
    assert await count(db, "oauth_states") == 1


async def test_the_last_sign_in_method_stays(
    gql: GraphQLClient, services: Services, db: Database, oidc: OidcServer
) -> None:
    admin = await admin_token(services)
    provider = await add_provider(gql, admin, oidc.issuer, allowSignup=True)
    await allow_signup(gql, admin)
    made = await external_login(gql, provider["id"], "only-sso")
    mine = await gql.data(MY_IDENTITIES, token=made["accessToken"])
    only = mine["myIdentities"][0]["id"]
    refused = await gql.data(UNLINK, {"id": only}, token=made["accessToken"])
    assert refused["unlinkIdentity"]["errors"] == [{"field": "id", "code": "LAST_SIGN_IN_METHOD"}]
    refused = await gql.data(DELETE, {"id": provider["id"]}, token=admin)
    assert [e["code"] for e in refused["deleteIdentityProvider"]["errors"]] == [
        "LAST_SIGN_IN_METHOD"
    ]
    assert await count(db, "user_identity_providers") == 1
    assert await count(db, "identity_providers") == 1
    # an administrator may still remove it
    removed = await gql.data(REMOVE, {"id": only}, token=admin)
    assert removed["removeUserIdentity"]["errors"] == []
    assert await count(db, "user_identity_providers") == 0


async def test_a_passkey_is_another_sign_in_method(
    gql: GraphQLClient, services: Services, db: Database, oidc: OidcServer
) -> None:
    """An SSO-only account that registered a passkey can drop its link, and its provider can
    be deleted: the passkey still signs it in (``domain/sign_in_methods.py``)."""
    admin = await admin_token(services)
    provider = await add_provider(gql, admin, oidc.issuer, allowSignup=True)
    await allow_signup(gql, admin)
    made = await external_login(gql, provider["id"], "sso-and-key")
    assert made["accessToken"]
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, transports,"
                " aaguid, backup_eligible, backed_up, name, created_at)"
                " SELECT user_id, :cred, :key, 0, '', :aaguid, false, false, 'key', :now"
                " FROM user_identity_providers"
            ),
            {
                "cred": b"credential-1",
                "key": b"public-key",
                "aaguid": "00000000-0000-0000-0000-000000000000",
                "now": dt.datetime.now(dt.UTC),
            },
        )
    deleted = await gql.data(DELETE, {"id": provider["id"]}, token=admin)
    assert deleted["deleteIdentityProvider"]["errors"] == []
    assert await count(db, "identity_providers") == 0
    assert await count(db, "passkeys") == 1


# --------------------------------------------------------------------------- account state


async def test_a_user_deactivated_in_stridegraph(
    gql: GraphQLClient, services: Services, db: Database, oidc: OidcServer
) -> None:
    admin = await admin_token(services)
    provider = await add_provider(gql, admin, oidc.issuer, allowSignup=True)
    await allow_signup(gql, admin)
    made = await external_login(gql, provider["id"], "leaver")
    assert made["accessToken"]
    data = await gql.data(
        "mutation($id: ID!) { updateUser(id: $id, input: {active: false}) { errors { code } } }",
        {"id": made["user"]["id"]},
        token=admin,
    )
    assert data["updateUser"]["errors"] == []
    sessions_before = await count(db, "sessions")
    refused = await external_login(gql, provider["id"], "leaver")
    assert [e["code"] for e in refused["errors"]] == ["ACCOUNT_INACTIVE"]
    assert refused["accessToken"] is None
    assert await count(db, "sessions") == sessions_before


async def test_a_locked_account_stays_locked(
    gql: GraphQLClient, services: Services, oidc: OidcServer
) -> None:
    admin = await admin_token(services)
    provider = await add_provider(gql, admin, oidc.issuer, allowSignup=True)
    await allow_signup(gql, admin)
    made = await external_login(gql, provider["id"], "guessed")
    username = made["user"]["username"]
    for _ in range(services.settings.login_max_failures_account):
        await gql.data(
            'mutation($u: String!) { login(username: $u, password: "wrong") { errors { code } } }',
            {"u": username},
        )
    refused = await external_login(gql, provider["id"], "guessed")
    assert [e["code"] for e in refused["errors"]] == ["TOO_MANY_ATTEMPTS"]


async def test_mfa_rules_apply_to_external_sign_in(
    gql: GraphQLClient, services: Services, db: Database, oidc: OidcServer
) -> None:
    admin = await admin_token(services)
    provider = await add_provider(gql, admin, oidc.issuer)
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    data = await gql.data(START_LINK, {"p": provider["id"], "r": REDIRECT}, token=token)
    code, state = await authorize(data["startLinkIdentity"]["authorizationUrl"], "alice-mfa")
    linked = await gql.data(FINISH_LINK, {"code": code, "state": state}, token=token)
    assert linked["finishLinkIdentity"]["errors"] == []
    clock = Clock(now=dt.datetime.now(dt.UTC))
    services.clock = clock
    secret, _ = await enrol(gql, token, clock)
    sessions_before = await count(db, "sessions")
    answer = await external_login(gql, provider["id"], "alice-mfa")
    assert answer["errors"] == [] and answer["mfaRequired"] is True
    assert answer["accessToken"] is None and answer["mfaToken"]
    assert await count(db, "sessions") == sessions_before
    clock.advance(31)
    done = await gql.data(COMPLETE, {"t": answer["mfaToken"], "c": code_at(secret, clock.now)})
    assert done["completeMfaLogin"]["errors"] == []
    assert done["completeMfaLogin"]["user"]["username"] == "alice"


async def test_one_external_sign_in_per_operation_and_a_stale_header_is_ignored(
    gql: GraphQLClient, services: Services, oidc: OidcServer
) -> None:
    token = await admin_token(services)
    provider = await add_provider(gql, token, oidc.issuer, allowSignup=True)
    await allow_signup(gql, token)
    twice = await gql.execute(
        "mutation($p: ID!, $r: String!) {"
        " a: startExternalLogin(provider: $p, redirectUri: $r) { authorizationUrl }"
        " b: startExternalLogin(provider: $p, redirectUri: $r) { authorizationUrl } }",
        {"p": provider["id"], "r": REDIRECT},
    )
    assert twice["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    code, state = await authorize(await start(gql, provider["id"]), "stale-header")
    finished = await gql.data(
        FINISH, {"code": code, "state": state}, token="sga_" + "x" * 43
    )  # an expired access token still attached
    assert finished["finishExternalLogin"]["accessToken"]


async def test_discovery_and_keys_are_cached_for_a_bounded_time(oidc: OidcServer) -> None:
    now = [1000.0]
    client = OidcClient(cache_seconds=60, clock=lambda: now[0])
    first = await client.discover(oidc.issuer)
    assert first.issuer == oidc.issuer and first.jwks_uri.startswith(oidc.issuer)
    keys = await client._key_set(first)
    now[0] += 59
    assert await client.discover(oidc.issuer) is first  # reused within the lifetime
    assert await client._key_set(first) is keys
    now[0] += 2
    again = await client.discover(oidc.issuer)
    assert again is not first and again == first  # fetched anew once it ran out
    assert await client._key_set(first) is not keys
    down = OidcClient(timeout_seconds=2)
    with pytest.raises(ProviderUnavailable):
        await down.discover(f"http://127.0.0.1:{free_port()}")


# --------------------------------------------------------------------------- security history


async def security_events(db: Database) -> list[SecurityEvent]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(SecurityEvent).order_by(SecurityEvent.id))
        return list(rows.all())  # type: ignore[arg-type]


def row_id(global_id: str) -> int:
    return int(relay.from_base64(global_id)[1])


async def test_provider_changes_are_audit_events_without_the_secret(
    gql: GraphQLClient, services: Services, db: Database
) -> None:
    admin = await make_user(services, "root", admin=True)
    token = await login_token(services, admin)
    made = await add_provider(gql, token, "https://sso.example.org")
    refused = await gql.data(UPDATE, {"id": made["id"], "input": {"issuer": "nope"}}, token=token)
    assert refused["updateIdentityProvider"]["errors"] == [{"field": "issuer", "code": "INVALID"}]
    assert [e.type for e in await security_events(db)] == ["IDENTITY_PROVIDER_CREATED"]
    new_secret = "a-brand-new-client-secret"
    changes = {"name": "Main SSO", "clientSecret": new_secret, "allowSignup": True}
    updated = await gql.data(UPDATE, {"id": made["id"], "input": changes}, token=token)
    assert updated["updateIdentityProvider"]["errors"] == []
    deleted = await gql.data(DELETE, {"id": made["id"]}, token=token)
    assert deleted["deleteIdentityProvider"]["errors"] == []

    rows = await security_events(db)
    assert [(e.type, e.actor_id, e.subject_id) for e in rows] == [
        ("IDENTITY_PROVIDER_CREATED", admin.id, None),
        ("IDENTITY_PROVIDER_UPDATED", admin.id, None),
        ("IDENTITY_PROVIDER_DELETED", admin.id, None),
    ]
    provider_id = row_id(made["id"])
    assert rows[0].detail == {"providerId": provider_id, "slug": "test-idp"}
    assert rows[1].detail == {
        "providerId": provider_id,
        "slug": "test-idp",
        "fields": ["allowSignup", "clientSecret", "name"],
    }
    assert rows[2].detail == {"providerId": provider_id, "slug": "test-idp"}
    everything = repr([tuple(e) for e in rows])
    assert CLIENT_SECRET not in everything and new_secret not in everything
    # the audit log shows them to administrators
    audit = await gql.data(
        "{ auditEvents { edges { node { type actor { username } subject { username } } } } }",
        token=token,
    )
    nodes = [edge["node"] for edge in audit["auditEvents"]["edges"]]
    assert nodes[0] == {
        "type": "IDENTITY_PROVIDER_DELETED",
        "actor": {"username": "root"},
        "subject": None,
    }


async def test_identity_links_and_sign_ins_are_security_events_and_mailed(
    gql: GraphQLClient, services: Services, db: Database, oidc: OidcServer, smtp: Any
) -> None:
    admin = await make_user(services, "root", admin=True)
    admin_token = await login_token(services, admin)
    provider = await add_provider(gql, admin_token, oidc.issuer)
    alice = await make_user(services, "alice", profile={"preferred_language": Language.FR})
    token = await login_token(services, alice)
    oidc.control("accounts", {"alice-sso": {"email": "alice@example.com"}})
    seen = len(await security_events(db))

    async def new_events() -> list[SecurityEvent]:
        nonlocal seen
        rows = await security_events(db)
        fresh, seen = rows[seen:], len(rows)
        return fresh

    # an identity linked to nobody: a failed sign-in of no account
    assert (await external_login(gql, provider["id"], "alice-sso"))["accessToken"] is None
    [nobody] = await new_events()
    assert (nobody.type, nobody.subject_id, nobody.actor_id) == ("SIGN_IN_FAILED", None, None)
    assert nobody.detail == {"method": "PROVIDER", "reason": "SIGNUP_DISABLED"}

    async def link() -> tuple[dict[str, Any], str, str]:
        data = await gql.data(START_LINK, {"p": provider["id"], "r": REDIRECT}, token=token)
        code, state = await authorize(data["startLinkIdentity"]["authorizationUrl"], "alice-sso")
        done = await gql.data(FINISH_LINK, {"code": code, "state": state}, token=token)
        assert done["finishLinkIdentity"]["errors"] == []
        return done["finishLinkIdentity"]["identity"], code, state

    identity, code, state = await link()
    [linked] = await new_events()
    assert (linked.type, linked.subject_id, linked.actor_id) == (
        "IDENTITY_LINKED",
        alice.id,
        alice.id,
    )
    assert linked.detail == {"identityId": row_id(identity["id"]), "provider": "test-idp"}
    assert linked.session_id is not None
    (mail,) = await smtp.wait_for(1)
    assert mail["To"].addresses[0].addr_spec == "alice@example.com"
    assert mail["Subject"].startswith("Ajouté à votre compte sur testserver")
    assert "Test IdP" in body_text(mail)

    signed = await external_login(gql, provider["id"], "alice-sso")
    assert signed["errors"] == []
    [success] = await new_events()
    assert (success.type, success.subject_id) == ("SIGN_IN_SUCCEEDED", alice.id)
    assert success.detail["method"] == "PROVIDER" and success.session_id is not None

    # a refusal once the identity named alice is a failed sign-in of alice
    deactivate = "mutation($id: ID!, $a: Boolean!) { updateUser(id: $id, input: {active: $a}) { errors { code } } }"
    gid = relay.to_base64("User", alice.id)
    await gql.data(deactivate, {"id": gid, "a": False}, token=admin_token)
    await new_events()  # the administrator's change
    refused = await external_login(gql, provider["id"], "alice-sso")
    assert [e["code"] for e in refused["errors"]] == ["ACCOUNT_INACTIVE"]
    [failed] = await new_events()
    assert (failed.type, failed.subject_id, failed.actor_id) == (
        "SIGN_IN_FAILED",
        alice.id,
        alice.id,
    )
    assert failed.detail == {"method": "PROVIDER", "reason": "ACCOUNT_INACTIVE"}
    await gql.data(deactivate, {"id": gid, "a": True}, token=admin_token)
    await new_events()
    token = await login_token(services, alice)  # the deactivation ended her sessions

    # another user's unlink changes nothing and records nothing
    mallory = await login_token(services, await make_user(services, "mallory"))
    stolen = await gql.data(UNLINK, {"id": identity["id"]}, token=mallory)
    assert stolen["unlinkIdentity"]["errors"] == [{"field": "id", "code": "NOT_FOUND"}]
    assert await new_events() == []
    unlinked = await gql.data(UNLINK, {"id": identity["id"]}, token=token)
    assert unlinked["unlinkIdentity"]["errors"] == []
    [gone] = await new_events()
    assert (gone.type, gone.subject_id, gone.actor_id) == ("IDENTITY_UNLINKED", alice.id, alice.id)
    assert gone.detail == {"identityId": row_id(identity["id"]), "provider": "test-idp"}

    # turned off, a new link is not mailed; an administrator's removal is an admin action
    off = await gql.data(
        "mutation { updateSecurityNotifications(turnedOff: [IDENTITY]) { errors { code } } }",
        token=token,
    )
    assert off["updateSecurityNotifications"]["errors"] == []
    await new_events()
    again, code2, state2 = await link()
    assert [e.type for e in await new_events()] == ["IDENTITY_LINKED"]
    removed = await gql.data(REMOVE, {"id": again["id"]}, token=admin_token)
    assert removed["removeUserIdentity"]["errors"] == []
    [by_admin] = await new_events()
    assert (by_admin.type, by_admin.subject_id, by_admin.actor_id) == (
        "ADMIN_IDENTITY_REMOVED",
        alice.id,
        admin.id,
    )
    await services.mailer.drain()
    assert len(smtp.messages) == 1, [m["Subject"] for m in smtp.messages]

    everything = repr([(e.detail, e.user_agent) for e in await security_events(db)])
    for secret in ("alice-sso", code, state, code2, state2, CLIENT_SECRET):
        assert secret not in everything
