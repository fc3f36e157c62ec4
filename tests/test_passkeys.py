"""Passkeys (issue 16): registration, sign-in and management, driven by a software
authenticator that makes real attestations and signed assertions (tests/webauthn_support.py),
on both databases. Every refusal is checked to have changed nothing."""

from __future__ import annotations

import logging
from typing import Any

import cbor2
import pytest
from sqlalchemy import func, select
from strawberry import relay

from stridegraph.db.models import (
    LoginAttempt,
    Passkey,
    PasskeyChallenge,
    SecurityEvent,
    Session,
    User,
)
from stridegraph.domain.unit import open_unit
from tests.conftest import share_app_per_module
from tests.helpers import PASSWORD, login_token, make_user
from tests.mfa_support import COMPLETE, code_at, codes_of, enrol, install_clock
from tests.webauthn_support import (
    FINISH_LOGIN,
    FINISH_REGISTRATION,
    MY_PASSKEYS,
    START_LOGIN,
    START_REGISTRATION,
    SoftAuthenticator,
    b64u,
    finish_login,
    login_options,
    register,
    unb64u,
)

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()

ME = "query { me { username passkeyCount } }"


@pytest.fixture
def clock(services):
    return install_clock(services)


@pytest.fixture
async def alice(services, clock):
    user = await make_user(services, "alice")
    return user, await login_token(services, user)


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


async def passkey_rows(services, user_id: int | None = None) -> list[Passkey]:
    async with open_unit(services) as unit:
        query = select(Passkey).order_by(Passkey.id)
        if user_id is not None:
            query = query.where(Passkey.user_id == user_id)
        return list((await unit.session.scalars(query)).all())


async def count(services, model: Any) -> int:
    async with open_unit(services) as unit:
        return int(await unit.session.scalar(select(func.count()).select_from(model)) or 0)


async def start_registration(gql, token: str) -> dict[str, Any]:
    started = (await gql.data(START_REGISTRATION, token=token))["startPasskeyRegistration"]
    assert started["errors"] == [], started
    return started["options"]


async def finish_registration(gql, token: str, credential: Any, name: str | None = None) -> dict:
    return (await gql.data(FINISH_REGISTRATION, {"cred": credential, "name": name}, token=token))[
        "finishPasskeyRegistration"
    ]


# --------------------------------------------------------------------------- registration


async def test_registration_options_follow_the_issue(gql, services, alice):
    user, token = alice
    options = await start_registration(gql, token)
    assert options["rp"] == {"name": "stridegraph", "id": "testserver"}
    assert len(unb64u(options["challenge"])) == 32
    handle = unb64u(options["user"]["id"])
    # opaque: random bytes, not the id or the name in any spelling (a digit of the id may
    # occur among 32 random bytes by chance, so the id is compared whole, not searched for)
    assert len(handle) == 32 and len(set(handle)) > 8
    assert handle.strip(b"\0") not in (
        str(user.id).encode(),
        user.id.to_bytes(8, "big").strip(b"\0"),
    )
    assert b"alice" not in handle
    assert options["user"]["name"] == "alice"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == []
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    # the handle is the account's, every time; the challenge is new every time
    again = await start_registration(gql, token)
    assert again["user"]["id"] == options["user"]["id"]
    assert again["challenge"] != options["challenge"]
    async with open_unit(services) as unit:
        stored = (await unit.session.scalars(select(PasskeyChallenge))).all()
    assert {row.purpose for row in stored} == {"registration"}
    assert all(row.user_id == user.id for row in stored)
    raw = {unb64u(options["challenge"]), unb64u(again["challenge"])}
    assert not raw & {row.challenge_hash for row in stored}  # digests only


@pytest.mark.parametrize("fmt", ["none", "packed"])
async def test_register_stores_the_credential(gql, services, alice, authenticator, fmt):
    user, token = alice
    options = await start_registration(gql, token)
    credential = authenticator.create(options, fmt=fmt)
    finished = await finish_registration(gql, token, credential, "  Work laptop ")
    assert finished["errors"] == []
    shown = finished["passkey"]
    assert shown["name"] == "Work laptop"
    assert shown["transports"] == ["internal", "hybrid"]
    assert shown["aaguid"] == "01234567-89ab-cdef-0123-456789abcdef"
    assert shown["lastUsedAt"] is None
    assert (shown["backupEligible"], shown["backedUp"]) == (False, False)
    [row] = await passkey_rows(services)
    assert row.user_id == user.id
    assert row.credential_id == authenticator.credentials[0].credential_id
    assert row.sign_count == 0
    assert row.transports == "internal,hybrid"
    assert relay.from_base64(shown["id"]) == ("Passkey", str(row.id))
    listed = (await gql.data(MY_PASSKEYS, token=token))["myPasskeys"]
    assert listed == [shown]
    assert "publicKey" not in str(listed) and "credentialId" not in str(listed)
    assert (await gql.data(ME, token=token))["me"]["passkeyCount"] == 1
    # the next registration excludes it
    options = await start_registration(gql, token)
    assert [unb64u(c["id"]) for c in options["excludeCredentials"]] == [row.credential_id]


async def test_backup_flags_and_default_name(gql, services, alice):
    _, token = alice
    synced = SoftAuthenticator(backup_eligible=True)
    shown = await register(gql, token, synced, name=None)
    assert shown["name"] == "Passkey"
    assert (shown["backupEligible"], shown["backedUp"]) == (True, True)


async def test_packed_attestation_with_a_bad_signature_is_refused(
    gql, services, alice, authenticator
):
    _, token = alice
    options = await start_registration(gql, token)
    credential = authenticator.create(options, fmt="packed")
    # swap in another credential's attestation statement: the signature no longer matches
    other = SoftAuthenticator().create(options, fmt="packed")
    mine = cbor2.loads(unb64u(credential["response"]["attestationObject"]))
    theirs = cbor2.loads(unb64u(other["response"]["attestationObject"]))
    mine["attStmt"] = theirs["attStmt"]
    credential["response"]["attestationObject"] = b64u(cbor2.dumps(mine))
    finished = await finish_registration(gql, token, credential)
    assert codes_of(finished) == ["INVALID"]
    assert finished["errors"][0]["field"] == "credential"
    assert await passkey_rows(services) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"origin": "http://evil.example"}, "INVALID"),
        ({"rp_id": "evil.example"}, "INVALID"),
        ({"challenge": b64u(b"\x00" * 32)}, "INVALID_TOKEN"),
    ],
    ids=["wrong-origin", "wrong-rp-id", "unknown-challenge"],
)
async def test_registration_refusals_change_nothing(
    gql, services, alice, authenticator, change, expected
):
    _, token = alice
    options = await start_registration(gql, token)
    credential = authenticator.create(options, **change)
    finished = await finish_registration(gql, token, credential)
    assert codes_of(finished) == [expected]
    assert finished["passkey"] is None
    assert await passkey_rows(services) == []


async def test_registration_challenge_is_single_use_and_expires(
    gql, services, alice, authenticator, clock
):
    _, token = alice
    options = await start_registration(gql, token)
    credential = authenticator.create(options)
    assert (await finish_registration(gql, token, credential))["errors"] == []
    again = authenticator.create(options)  # a second credential on the used challenge
    assert codes_of(await finish_registration(gql, token, again)) == ["INVALID_TOKEN"]
    options = await start_registration(gql, token)
    late = authenticator.create(options)
    clock.advance(5 * 60 + 1)
    assert codes_of(await finish_registration(gql, token, late)) == ["INVALID_TOKEN"]
    assert len(await passkey_rows(services)) == 1


async def test_registration_challenge_is_bound_to_its_user(gql, services, alice, authenticator):
    _, token = alice
    bob = await make_user(services, "bob")
    bob_token = await login_token(services, bob)
    options = await start_registration(gql, token)
    credential = authenticator.create(options)
    assert codes_of(await finish_registration(gql, bob_token, credential)) == ["INVALID_TOKEN"]
    assert await passkey_rows(services) == []


async def test_registration_needs_recent_authentication(gql, services, alice, clock):
    _user, token = alice
    clock.advance(10 * 60)
    refused = (await gql.data(START_REGISTRATION, token=token))["startPasskeyRegistration"]
    assert codes_of(refused) == ["REAUTHENTICATION_REQUIRED"]
    assert await count(services, PasskeyChallenge) == 0
    wrong = (await gql.data(START_REGISTRATION, {"p": "nope"}, token=token))[
        "startPasskeyRegistration"
    ]
    assert codes_of(wrong) == ["INVALID_CREDENTIALS"]
    right = (await gql.data(START_REGISTRATION, {"p": PASSWORD}, token=token))[
        "startPasskeyRegistration"
    ]
    assert right["errors"] == [] and right["options"]["challenge"]


@pytest.mark.parametrize(
    "credential",
    [{}, [], "text", 7, {"id": "x", "rawId": "x", "response": {}}, {"response": None}],
)
async def test_malformed_registration_is_invalid(gql, services, alice, credential):
    _, token = alice
    await start_registration(gql, token)
    finished = await finish_registration(gql, token, credential)
    assert codes_of(finished) == ["INVALID"]
    assert await passkey_rows(services) == []


async def test_the_same_credential_cannot_be_registered_twice(gql, services, alice, authenticator):
    _, token = alice
    options = await start_registration(gql, token)
    credential = authenticator.create(options)
    assert (await finish_registration(gql, token, credential))["errors"] == []
    # the same attestation (a "none" one holds no challenge) answering a new challenge
    options = await start_registration(gql, token)
    client_data = SoftAuthenticator._client_data(
        "webauthn.create", options["challenge"], authenticator.origin
    )
    credential["response"]["clientDataJSON"] = b64u(client_data)
    refused = await finish_registration(gql, token, credential)
    assert codes_of(refused) == ["INVALID"]
    assert "already registered" in refused["errors"][0]["message"]
    assert len(await passkey_rows(services)) == 1


# --------------------------------------------------------------------------- sign-in


@pytest.fixture
async def registered(gql, services, alice, authenticator, clock):
    user, token = alice
    await register(gql, token, authenticator)
    clock.advance(60)
    return user, authenticator


async def test_sign_in_with_a_username(gql, services, registered, clock):
    _user, authenticator = registered
    options = await login_options(gql, "alice")
    [allowed] = options["allowCredentials"]
    assert unb64u(allowed["id"]) == authenticator.credentials[0].credential_id
    assert options["rpId"] == "testserver"
    assert options["userVerification"] == "preferred"
    result = await finish_login(gql, authenticator.get(options))
    assert result["errors"] == [] and result["mfaRequired"] is False
    assert result["user"] == {"username": "alice", "passkeyCount": 1}
    me = (await gql.data(ME, token=result["accessToken"]))["me"]
    assert me["username"] == "alice"
    [row] = await passkey_rows(services)
    assert row.sign_count == 1 and row.last_used_at == clock.now
    listed = (await gql.data(MY_PASSKEYS, token=result["accessToken"]))["myPasskeys"]
    assert listed[0]["lastUsedAt"] is not None


async def test_sign_in_without_a_username(gql, services, registered):
    _, authenticator = registered
    options = await login_options(gql)
    assert options["allowCredentials"] == []
    result = await finish_login(gql, authenticator.get(options))
    assert result["errors"] == [] and result["accessToken"]
    # an e-mail address names the user too
    options = await login_options(gql, "alice@example.com")
    assert len(options["allowCredentials"]) == 1


async def test_unknown_username_gets_a_stable_decoy(gql, services, registered):
    options = await login_options(gql, "nobody")
    again = await login_options(gql, "NOBODY")
    [decoy] = options["allowCredentials"]
    assert again["allowCredentials"] == [decoy]
    assert set(decoy) == {"id", "type"}
    assert len(unb64u(decoy["id"])) == 32
    bob = await make_user(services, "bob")  # a real user without passkeys: the same shape
    [bobs] = (await login_options(gql, bob.username))["allowCredentials"]
    assert set(bobs) == set(decoy) and len(unb64u(bobs["id"])) == 32


async def sessions_of(services, user_id: int) -> int:
    async with open_unit(services) as unit:
        return int(
            await unit.session.scalar(
                select(func.count()).select_from(Session).where(Session.user_id == user_id)
            )
            or 0
        )


@pytest.mark.parametrize(
    "change",
    [{"origin": "http://evil.example"}, {"rp_id": "evil.example"}],
    ids=["wrong-origin", "wrong-rp-id"],
)
async def test_sign_in_from_the_wrong_origin_or_rp_id_is_refused(gql, services, registered, change):
    user, authenticator = registered
    before = await sessions_of(services, user.id)
    options = await login_options(gql)
    result = await finish_login(gql, authenticator.get(options, **change))
    assert codes_of(result) == ["INVALID_CREDENTIALS"]
    assert result["accessToken"] is None
    assert await sessions_of(services, user.id) == before
    [row] = await passkey_rows(services)
    assert row.sign_count == 0 and row.last_used_at is None


async def test_a_signature_counter_going_back_is_refused_and_logged(
    gql, services, registered, caplog
):
    user, authenticator = registered
    options = await login_options(gql)
    assert (await finish_login(gql, authenticator.get(options, sign_count=5)))["errors"] == []
    before = await sessions_of(services, user.id)
    options = await login_options(gql)
    with caplog.at_level(logging.WARNING, logger="stridegraph.audit"):
        result = await finish_login(gql, authenticator.get(options, sign_count=5))
    assert codes_of(result) == ["INVALID_CREDENTIALS"]
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "passkey_clone_suspected"]
    assert (record.stored_count, record.seen_count, record.user_id) == (5, 5, user.id)
    assert await sessions_of(services, user.id) == before
    [row] = await passkey_rows(services)
    assert row.sign_count == 5
    options = await login_options(gql)
    assert codes_of(await finish_login(gql, authenticator.get(options, sign_count=3))) == [
        "INVALID_CREDENTIALS"
    ]
    options = await login_options(gql)
    assert (await finish_login(gql, authenticator.get(options, sign_count=6)))["errors"] == []


async def test_a_login_challenge_is_single_use_and_expires(gql, services, registered, clock):
    user, authenticator = registered
    options = await login_options(gql)
    assert (await finish_login(gql, authenticator.get(options)))["errors"] == []
    before = await sessions_of(services, user.id)
    replay = await finish_login(gql, authenticator.get(options))
    assert codes_of(replay) == ["INVALID_TOKEN"]
    options = await login_options(gql)
    clock.advance(5 * 60 + 1)
    assert codes_of(await finish_login(gql, authenticator.get(options))) == ["INVALID_TOKEN"]
    assert await sessions_of(services, user.id) == before


async def test_a_registration_challenge_does_not_sign_in(gql, services, registered):
    user, authenticator = registered
    token = await login_token(services, user)
    options = await start_registration(gql, token)
    forged = authenticator.get({"challenge": options["challenge"]})
    assert codes_of(await finish_login(gql, forged)) == ["INVALID_TOKEN"]


async def test_a_challenge_for_one_user_does_not_sign_in_another(gql, services, registered):
    _, _authenticator = registered
    bob = await make_user(services, "bob")
    bobs = SoftAuthenticator()
    await register(gql, await login_token(services, bob), bobs)
    options = await login_options(gql, "alice")
    result = await finish_login(gql, bobs.get({"challenge": options["challenge"]}))
    assert codes_of(result) == ["INVALID_CREDENTIALS"]


async def test_a_deleted_credential_is_refused_like_an_unknown_one(gql, services, registered):
    user, authenticator = registered
    token = await login_token(services, user)
    [shown] = (await gql.data(MY_PASSKEYS, token=token))["myPasskeys"]
    deleted = (
        await gql.data(
            "mutation($id: ID!) { deletePasskey(id: $id) { passkey { id } errors { code } } }",
            {"id": shown["id"]},
            token=token,
        )
    )["deletePasskey"]
    assert deleted["errors"] == []
    options = await login_options(gql)
    gone = await finish_login(gql, authenticator.get(options))
    stranger = SoftAuthenticator()
    stranger.create({"user": {"id": b64u(b"someone")}, "challenge": options["challenge"]})
    options = await login_options(gql)
    unknown = await finish_login(gql, stranger.get(options))
    assert codes_of(gone) == codes_of(unknown) == ["INVALID_CREDENTIALS"]
    assert gone["errors"][0]["message"] == unknown["errors"][0]["message"]


@pytest.mark.parametrize(
    ("flags", "code"),
    [
        ({"active": False}, "ACCOUNT_INACTIVE"),
        ({"pending_admin_approval": True}, "PENDING_APPROVAL"),
    ],
)
async def test_account_checks_apply(gql, services, registered, flags, code):
    user, authenticator = registered
    async with open_unit(services) as unit:
        row = await unit.session.get(User, user.id)
        for name, value in flags.items():
            setattr(row, name, value)
        await unit.session.commit()
    before = await sessions_of(services, user.id)
    options = await login_options(gql)
    result = await finish_login(gql, authenticator.get(options))
    assert codes_of(result) == [code]
    assert result["accessToken"] is None
    assert await sessions_of(services, user.id) == before
    [passkey] = await passkey_rows(services)
    assert passkey.sign_count == 0  # the counter update rolled back too


async def test_failed_sign_ins_count_toward_the_login_rate_limit(gql, services, registered):
    _user, authenticator = registered
    for _ in range(services.settings.login_max_failures_account):
        options = await login_options(gql)
        bad = await finish_login(gql, authenticator.get(options, origin="http://evil.example"))
        assert codes_of(bad) == ["INVALID_CREDENTIALS"]
    options = await login_options(gql)
    locked = await finish_login(gql, authenticator.get(options))
    assert codes_of(locked) == ["TOO_MANY_ATTEMPTS"]
    assert await count(services, LoginAttempt) == services.settings.login_max_failures_account


async def test_a_good_sign_in_resets_the_account_count(gql, services, registered):
    _, authenticator = registered
    options = await login_options(gql)
    await finish_login(gql, authenticator.get(options, origin="http://evil.example"))
    assert await count(services, LoginAttempt) == 1
    options = await login_options(gql)
    assert (await finish_login(gql, authenticator.get(options)))["errors"] == []
    assert await count(services, LoginAttempt) == 0


@pytest.mark.parametrize(
    "credential", [{}, [], "x", 1, {"id": "a", "rawId": "a", "response": {"x": 1}}]
)
async def test_malformed_assertion_is_invalid(gql, services, registered, credential):
    result = await finish_login(gql, credential)
    assert codes_of(result) == ["INVALID"]
    assert await count(services, LoginAttempt) == 0


async def test_user_verification_required_by_the_settings(gql, services, registered):
    services.settings = services.settings.with_(webauthn_user_verification="required")
    _, authenticator = registered
    options = await login_options(gql)
    assert options["userVerification"] == "required"
    result = await finish_login(gql, authenticator.get(options, uv=False))
    assert codes_of(result) == ["INVALID_CREDENTIALS"]
    options = await login_options(gql)
    assert (await finish_login(gql, authenticator.get(options, uv=True)))["errors"] == []


async def test_origins_and_rp_id_come_from_the_settings(gql, services, registered):
    _user, authenticator = registered
    services.settings = services.settings.with_(
        webauthn_origins=("https://app.example",), webauthn_rp_id="testserver"
    )
    options = await login_options(gql)
    assert codes_of(await finish_login(gql, authenticator.get(options))) == ["INVALID_CREDENTIALS"]
    options = await login_options(gql)
    result = await finish_login(gql, authenticator.get(options, origin="https://app.example"))
    assert result["errors"] == []


# --------------------------------------------------------------------------- MFA interplay


async def test_mfa_user_verification_satisfies_mfa(gql, services, alice, clock):
    _user, token = alice
    secret, _ = await enrol(gql, token, clock)
    authenticator = SoftAuthenticator()
    await register(gql, token, authenticator)
    clock.advance(60)
    options = await login_options(gql)
    verified = await finish_login(gql, authenticator.get(options, uv=True))
    assert verified["errors"] == [] and verified["accessToken"]
    assert verified["mfaRequired"] is False
    # without user verification the passkey is one factor: the code is still asked for
    options = await login_options(gql)
    first = await finish_login(gql, authenticator.get(options, uv=False))
    assert first["errors"] == [] and first["mfaRequired"] is True
    assert first["accessToken"] is None and first["mfaToken"]
    clock.advance(30)
    done = (await gql.data(COMPLETE, {"t": first["mfaToken"], "c": code_at(secret, clock.now)}))[
        "completeMfaLogin"
    ]
    assert done["errors"] == [] and done["accessToken"]


# --------------------------------------------------------------------------- management


RENAME = """mutation($id: ID!, $name: String!) { renamePasskey(id: $id, name: $name) {
  passkey { id name } errors { field code message } } }"""
DELETE = """mutation($id: ID!) { deletePasskey(id: $id) {
  passkey { id name } errors { field code message } } }"""
USER_PASSKEYS = "query($id: ID!) { userPasskeys(id: $id) { id name } }"
REVOKE = """mutation($id: ID!) { revokeUserPasskeys(id: $id) {
  revokedCount errors { field code message } } }"""


async def test_rename(gql, services, alice, authenticator):
    _, token = alice
    shown = await register(gql, token, authenticator)
    renamed = (await gql.data(RENAME, {"id": shown["id"], "name": "Phone"}, token=token))[
        "renamePasskey"
    ]
    assert renamed == {"passkey": {"id": shown["id"], "name": "Phone"}, "errors": []}
    for bad, code in (("  ", "REQUIRED"), ("x" * 101, "TOO_LONG")):
        refused = (await gql.data(RENAME, {"id": shown["id"], "name": bad}, token=token))[
            "renamePasskey"
        ]
        assert codes_of(refused) == [code]
    [row] = await passkey_rows(services)
    assert row.name == "Phone"


async def test_another_users_passkey_is_not_found(gql, services, alice, authenticator):
    _, token = alice
    shown = await register(gql, token, authenticator)
    bob = await make_user(services, "bob")
    bob_token = await login_token(services, bob)
    for document, variables, code in (
        (RENAME, {"id": shown["id"], "name": "Mine"}, "NOT_FOUND"),
        (DELETE, {"id": shown["id"]}, "NOT_FOUND"),
        (DELETE, {"id": "not-an-id"}, "INVALID"),  # a malformed id: the one decode_id rule
    ):
        payload = next(iter((await gql.data(document, variables, token=bob_token)).values()))
        assert codes_of(payload) == [code]
    [row] = await passkey_rows(services)
    assert row.name == "Laptop"


async def test_the_last_sign_in_method_cannot_be_deleted(gql, services, clock):
    user = await make_user(services, "carol", password=None)
    token = await login_token(services, user)
    authenticator = SoftAuthenticator()
    first = await register(gql, token, authenticator)
    second = await register(gql, token, authenticator, name="Key")
    deleted = (await gql.data(DELETE, {"id": first["id"]}, token=token))["deletePasskey"]
    assert deleted["errors"] == [] and deleted["passkey"]["id"] == first["id"]
    refused = (await gql.data(DELETE, {"id": second["id"]}, token=token))["deletePasskey"]
    assert codes_of(refused) == ["LAST_SIGN_IN_METHOD"]
    assert [row.name for row in await passkey_rows(services)] == ["Key"]


async def test_with_a_password_the_last_passkey_can_go(gql, services, alice, authenticator):
    _, token = alice
    shown = await register(gql, token, authenticator)
    assert (await gql.data(DELETE, {"id": shown["id"]}, token=token))["deletePasskey"][
        "errors"
    ] == []
    assert await passkey_rows(services) == []
    assert (await gql.data(ME, token=token))["me"]["passkeyCount"] == 0


async def test_deleting_needs_recent_authentication(gql, services, alice, authenticator, clock):
    _, token = alice
    shown = await register(gql, token, authenticator)
    clock.advance(10 * 60)
    refused = (await gql.data(DELETE, {"id": shown["id"]}, token=token))["deletePasskey"]
    assert codes_of(refused) == ["REAUTHENTICATION_REQUIRED"]
    assert len(await passkey_rows(services)) == 1


async def test_admin_lists_and_revokes_a_users_passkeys(gql, services, alice, authenticator):
    user, token = alice
    await register(gql, token, authenticator)
    await register(gql, token, authenticator, name="Key")
    admin = await make_user(services, "root", admin=True)
    admin_token = await login_token(services, admin)
    gid = relay.to_base64("User", user.id)
    listed = (await gql.data(USER_PASSKEYS, {"id": gid}, token=admin_token))["userPasskeys"]
    assert [p["name"] for p in listed] == ["Laptop", "Key"]
    unknown = relay.to_base64("User", 999_999)
    assert (await gql.data(USER_PASSKEYS, {"id": unknown}, token=admin_token))["userPasskeys"] == []
    missing = (await gql.data(REVOKE, {"id": unknown}, token=admin_token))["revokeUserPasskeys"]
    assert codes_of(missing) == ["NOT_FOUND"]
    assert len(await passkey_rows(services)) == 2
    revoked = (await gql.data(REVOKE, {"id": gid}, token=admin_token))["revokeUserPasskeys"]
    assert revoked == {"revokedCount": 2, "errors": []}
    assert await passkey_rows(services) == []
    forbidden = await gql.execute(REVOKE, {"id": gid}, token=token)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_delete_me_removes_passkeys(gql, services, alice, authenticator):
    _, token = alice
    await register(gql, token, authenticator)
    other = await make_user(services, "bob")
    await register(gql, await login_token(services, other), SoftAuthenticator())
    deleted = await gql.data(
        "mutation($p: String!) { deleteMe(password: $p) { errors { code } } }",
        {"p": PASSWORD},
        token=token,
    )
    assert deleted["deleteMe"]["errors"] == []
    assert [row.user_id for row in await passkey_rows(services)] == [other.id]


async def test_anonymous_cannot_register(gql, services):
    body = await gql.execute(START_REGISTRATION)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = await gql.execute(FINISH_REGISTRATION, {"cred": {}})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await count(services, PasskeyChallenge) == 0


async def test_start_login_takes_no_unbounded_username(gql, services):
    started = (await gql.data(START_LOGIN, {"u": "x" * 1000}))["startPasskeyLogin"]
    assert codes_of(started) == ["TOO_LONG"]
    assert await count(services, PasskeyChallenge) == 0


async def test_expired_challenges_are_cleared(gql, services, clock):
    await login_options(gql)
    await login_options(gql)
    clock.advance(5 * 60 + 1)
    await login_options(gql)
    assert await count(services, PasskeyChallenge) == 1


async def test_finish_login_payload_is_the_login_payload(gql, services, registered):
    _, authenticator = registered
    options = await login_options(gql)
    body = await gql.execute(
        FINISH_LOGIN.replace("mfaToken", "mfaToken expiresAt refreshExpiresAt"),
        {"cred": authenticator.get(options)},
    )
    assert body["data"]["finishPasskeyLogin"]["expiresAt"]


async def test_one_passkey_sign_in_per_operation(gql, services, registered):
    _, authenticator = registered
    options = await login_options(gql)
    twice = """mutation($c: JSON!) {
      a: finishPasskeyLogin(credential: $c) { accessToken }
      b: finishPasskeyLogin(credential: $c) { accessToken } }"""
    body = await gql.execute(twice, {"c": authenticator.get(options)})
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert await count(services, LoginAttempt) == 0


async def test_a_stale_bearer_header_does_not_stop_a_passkey_sign_in(gql, services, registered):
    _, authenticator = registered
    stale = {"Authorization": "Bearer sga_" + "x" * 43}
    started = await gql.execute(START_LOGIN, {"u": None}, headers=stale)
    options = started["data"]["startPasskeyLogin"]["options"]
    body = await gql.execute(FINISH_LOGIN, {"cred": authenticator.get(options)}, headers=stale)
    assert body["data"]["finishPasskeyLogin"]["accessToken"], body


async def test_user_presence_is_required(gql, services, registered):
    user, authenticator = registered
    options = await login_options(gql)
    result = await finish_login(gql, authenticator.get(options, up=False, uv=False))
    assert codes_of(result) == ["INVALID_CREDENTIALS"]
    assert await sessions_of(services, user.id) == 1  # only the registering session


async def test_a_user_handle_of_another_account_is_refused(gql, services, registered):
    _, authenticator = registered
    options = await login_options(gql)
    answer = authenticator.get(options)
    answer["response"]["userHandle"] = b64u(b"\x01" * 32)
    assert codes_of(await finish_login(gql, answer)) == ["INVALID_CREDENTIALS"]
    options = await login_options(gql)  # without a handle (a non-discoverable credential)
    assert (await finish_login(gql, authenticator.get(options, user_handle=False)))["errors"] == []


# --------------------------------------------------------------------------- security history


async def security_events(services) -> list[SecurityEvent]:
    async with open_unit(services) as unit:
        query = select(SecurityEvent).order_by(SecurityEvent.id)
        return list((await unit.session.scalars(query)).all())


async def test_passkey_changes_and_sign_ins_are_security_events(
    gql, services, alice, authenticator, clock
):
    user, token = alice
    # a refused registration is no event
    options = await start_registration(gql, token)
    bad = SoftAuthenticator().create(options, origin="http://evil.example")
    assert codes_of(await finish_registration(gql, token, bad)) == ["INVALID"]
    assert await security_events(services) == []

    shown = await register(gql, token, authenticator)
    passkey_id = int(relay.from_base64(shown["id"])[1])
    [added] = await security_events(services)
    assert (added.type, added.subject_id, added.actor_id) == ("PASSKEY_ADDED", user.id, user.id)
    assert added.detail == {"passkeyId": passkey_id, "name": "Laptop", "viaLink": False}
    assert added.session_id is not None

    clock.advance(60)
    signed = await finish_login(gql, authenticator.get(await login_options(gql, "alice")))
    assert signed["errors"] == []
    last = (await security_events(services))[-1]
    assert (last.type, last.subject_id) == ("SIGN_IN_SUCCEEDED", user.id)
    assert last.detail["method"] == "PASSKEY" and last.session_id is not None

    # a refused assertion of alice's passkey is a failed sign-in of alice
    forged = authenticator.get(await login_options(gql, "alice"), rp_id="evil.example")
    assert codes_of(await finish_login(gql, forged)) == ["INVALID_CREDENTIALS"]
    failed = (await security_events(services))[-1]
    assert (failed.type, failed.subject_id, failed.actor_id) == ("SIGN_IN_FAILED", user.id, user.id)
    assert failed.detail == {"method": "PASSKEY", "reason": "INVALID_CREDENTIALS"}
    # an unknown credential links no account
    stranger = SoftAuthenticator()
    stranger.create(await start_registration(gql, token))  # made, never registered
    unknown = stranger.get(await login_options(gql), user_handle=False)
    assert codes_of(await finish_login(gql, unknown)) == ["INVALID_CREDENTIALS"]
    nobody = (await security_events(services))[-1]
    assert (nobody.type, nobody.subject_id, nobody.actor_id) == ("SIGN_IN_FAILED", None, None)

    # removing another user's passkey changes nothing and records nothing
    before = await security_events(services)
    bob_token = await login_token(services, await make_user(services, "bob"))
    refused = (await gql.data(DELETE, {"id": shown["id"]}, token=bob_token))["deletePasskey"]
    assert codes_of(refused) == ["NOT_FOUND"]
    assert len(await security_events(services)) == len(before)
    await register(gql, token, authenticator, name="Key")
    removed = (await gql.data(DELETE, {"id": shown["id"]}, token=token))["deletePasskey"]
    assert removed["errors"] == []
    gone = (await security_events(services))[-1]
    assert (gone.type, gone.subject_id, gone.actor_id) == ("PASSKEY_REMOVED", user.id, user.id)
    assert gone.detail == {"passkeyId": passkey_id, "name": "Laptop"}

    admin = await make_user(services, "root", admin=True)
    gid = relay.to_base64("User", user.id)
    revoked = await gql.data(REVOKE, {"id": gid}, token=await login_token(services, admin))
    assert revoked["revokeUserPasskeys"]["revokedCount"] == 1
    by_admin = (await security_events(services))[-1]
    assert (by_admin.type, by_admin.subject_id, by_admin.actor_id) == (
        "ADMIN_PASSKEYS_REVOKED",
        user.id,
        admin.id,
    )
    assert by_admin.detail == {"passkeys": 1}

    # no credential id, public key or challenge in any event
    everything = repr([(e.detail, e.user_agent) for e in await security_events(services)])
    for credential in authenticator.credentials + stranger.credentials:
        assert b64u(credential.credential_id) not in everything
        assert credential.credential_id.hex() not in everything
