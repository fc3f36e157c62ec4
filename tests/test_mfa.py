"""MFA enrolment, disabling, backup codes, the admin reset and secrets at rest (issue 6)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import urllib.parse

import pytest
from graphql import GraphQLObjectType
from strawberry import relay

from stridegraph.db.models import User
from stridegraph.domain import mfa, mfa_codes
from stridegraph.domain.crypto import SecretCipher
from stridegraph.domain.scopes import scopes_for
from stridegraph.domain.unit import open_unit
from stridegraph.domain.viewer import Viewer
from stridegraph.graph.schema import build_schema, export_sdl
from stridegraph.logs import JsonFormatter
from tests.conftest import share_app_per_module
from tests.helpers import login_token, make_user
from tests.mfa_support import (
    DISABLE,
    ENABLE,
    REGENERATE,
    RESET,
    SETUP,
    code_at,
    codes_of,
    enrol,
    install_clock,
    mfa_state,
)

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()

ME = "query { me { mfaEnabled } }"


@pytest.fixture
def clock(services):
    return install_clock(services)


@pytest.fixture
async def alice(services, clock):
    user = await make_user(services, "alice")
    return user, await login_token(services, user)


# --------------------------------------------------------------------------- setupMfa


async def test_setup_returns_a_pending_secret_uri_and_qr_code(gql, db, services, alice):
    user, token = alice
    setup = (await gql.data(SETUP, token=token))["setupMfa"]
    assert setup["errors"] == []
    secret = setup["secret"]
    assert len(secret) == 32
    uri = urllib.parse.urlsplit(setup["otpauthUri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert urllib.parse.unquote(uri.path) == "/stridegraph:alice"
    query = urllib.parse.parse_qs(uri.query)
    assert query["secret"] == [secret] and query["issuer"] == ["stridegraph"]
    prefix = "data:image/svg+xml;charset=utf-8,"
    assert setup["qrCodeSvg"].startswith(prefix)
    assert urllib.parse.unquote(setup["qrCodeSvg"][len(prefix) :]).lstrip().startswith("<svg")

    state = await mfa_state(db, user.id)
    assert state.enabled is False and state.secret is None and state.backup_codes == ()
    assert state.pending is not None and secret not in state.pending  # encrypted at rest
    assert services.cipher.decrypt(state.pending) == secret
    assert (await gql.data(ME, token=token))["me"]["mfaEnabled"] is False


async def test_the_issuer_is_configurable(services, clock):
    user = await make_user(services, "bob")
    custom = dataclasses.replace(
        services, settings=services.settings.with_(mfa_issuer="Acme Fitness")
    )
    viewer = Viewer(user=user, scopes=scopes_for(user.access_type), signed_in_at=clock.now)
    async with open_unit(custom) as unit:
        setup = await unit.transaction(mfa.setup_mfa, viewer=viewer)
    assert "issuer=Acme%20Fitness" in setup.otpauth_uri
    assert setup.otpauth_uri.startswith("otpauth://totp/Acme%20Fitness:bob?")


async def test_a_second_setup_replaces_the_pending_secret(gql, db, alice, clock):
    user, token = alice
    first = (await gql.data(SETUP, token=token))["setupMfa"]["secret"]
    second = (await gql.data(SETUP, token=token))["setupMfa"]["secret"]
    assert first != second
    answer = (await gql.data(ENABLE, {"code": code_at(first, clock.now)}, token=token))["enableMfa"]
    assert codes_of(answer) == ["INVALID_CODE"]
    assert (await mfa_state(db, user.id)).enabled is False


# --------------------------------------------------------------------------- enableMfa


async def test_enable_turns_mfa_on_and_returns_ten_backup_codes_stored_hashed(
    gql, db, services, alice, clock
):
    user, token = alice
    secret, backup = await enrol(gql, token, clock)
    assert len(backup) == 10 and len(set(backup)) == 10
    assert all(len(c) == 11 and c[5] == "-" for c in backup)
    state = await mfa_state(db, user.id)
    assert state.enabled is True and state.pending is None
    assert secret not in (state.secret or "")
    assert services.cipher.decrypt(state.secret) == secret
    stored = {h for h, _ in state.backup_codes}
    assert len(stored) == 10
    for code in backup:
        assert code.encode() not in stored and code.replace("-", "").encode() not in stored
        digest = mfa_codes.backup_digest(
            services.settings.secret_key, user.id, code.replace("-", "")
        )
        assert digest in stored
    assert (await gql.data(ME, token=token))["me"]["mfaEnabled"] is True


@pytest.mark.parametrize(
    "code", ["000000", "", "12345", "1234567", "abcdef", "x" * 5000, "CURRENT" + " " * 100]
)
async def test_enable_with_a_bad_code_changes_nothing(gql, db, alice, clock, code):
    user, token = alice
    secret = (await gql.data(SETUP, token=token))["setupMfa"]["secret"]
    if code == "000000" and code_at(secret, clock.now) == code:  # 1 in a million
        code = "000001"
    if code.startswith("CURRENT"):  # a right code drowned in padding is still malformed
        code = code_at(secret, clock.now) + code[len("CURRENT") :]
    before = await mfa_state(db, user.id)
    answer = (await gql.data(ENABLE, {"code": code}, token=token))["enableMfa"]
    assert answer["backupCodes"] is None and answer["me"] is None
    assert answer["errors"] == [
        {"field": "code", "code": "INVALID_CODE", "message": "The code is not valid."}
    ]
    assert await mfa_state(db, user.id) == before


async def test_enable_refuses_an_expired_code(gql, db, alice, clock):
    user, token = alice
    secret = (await gql.data(SETUP, token=token))["setupMfa"]["secret"]
    before = await mfa_state(db, user.id)
    for steps in (-2, 2):
        answer = (await gql.data(ENABLE, {"code": code_at(secret, clock.now, steps)}, token=token))[
            "enableMfa"
        ]
        assert codes_of(answer) == ["INVALID_CODE"]
    assert await mfa_state(db, user.id) == before


async def test_enable_without_setup_is_invalid(gql, db, alice):
    user, token = alice
    before = await mfa_state(db, user.id)
    answer = (await gql.data(ENABLE, {"code": "123456"}, token=token))["enableMfa"]
    assert codes_of(answer) == ["INVALID"]
    assert await mfa_state(db, user.id) == before


async def test_enabling_twice_is_mfa_already_enabled(gql, db, alice, clock):
    user, token = alice
    secret, _ = await enrol(gql, token, clock)
    before = await mfa_state(db, user.id)
    clock.advance(30)
    answer = (await gql.data(ENABLE, {"code": code_at(secret, clock.now)}, token=token))[
        "enableMfa"
    ]
    assert codes_of(answer) == ["MFA_ALREADY_ENABLED"]
    setup = (await gql.data(SETUP, token=token))["setupMfa"]
    assert codes_of(setup) == ["MFA_ALREADY_ENABLED"] and setup["secret"] is None
    assert await mfa_state(db, user.id) == before


async def test_the_code_that_enabled_mfa_cannot_be_used_again(gql, db, alice, clock):
    user, token = alice
    setup = (await gql.data(SETUP, token=token))["setupMfa"]
    code = code_at(setup["secret"], clock.now)
    await gql.data(ENABLE, {"code": code}, token=token)
    before = await mfa_state(db, user.id)
    answer = (await gql.data(DISABLE, {"code": code}, token=token))["disableMfa"]
    assert codes_of(answer) == ["INVALID_CODE"]
    assert await mfa_state(db, user.id) == before


async def test_the_secret_cannot_be_read_back_through_the_api(gql, services, alice, clock):
    _, token = alice
    secret, _ = await enrol(gql, token, clock)
    schema = build_schema(services.settings)._schema
    holders = sorted(  # what a client can READ (inputs only take a secret in)
        f"{name}.{field}"
        for name, kind in schema.type_map.items()
        if isinstance(kind, GraphQLObjectType)
        for field in kind.fields
        if "secret" in field.lower() or "otpauth" in field.lower() or "qrcode" in field.lower()
    )
    assert holders == [
        "IdentityProvider.hasClientSecret",  # a boolean: the secret itself is never read back
        "SetupMfaPayload.otpauthUri",
        "SetupMfaPayload.qrCodeSvg",
        "SetupMfaPayload.secret",
    ]
    assert codes_of((await gql.data(SETUP, token=token))["setupMfa"]) == ["MFA_ALREADY_ENABLED"]
    body = await gql.execute("query { me { id mfaEnabled } }", token=token)
    assert secret not in str(body)


# --------------------------------------------------------------------------- disableMfa


async def test_disable_when_off_is_mfa_not_enabled(gql, db, alice):
    user, token = alice
    before = await mfa_state(db, user.id)
    answer = (await gql.data(DISABLE, {"code": "123456"}, token=token))["disableMfa"]
    assert codes_of(answer) == ["MFA_NOT_ENABLED"]
    assert await mfa_state(db, user.id) == before


@pytest.mark.parametrize("kind", ["wrong", "expired", "malformed", "made-up backup"])
async def test_disable_with_a_bad_code_changes_nothing(gql, db, alice, clock, kind):
    user, token = alice
    secret, _ = await enrol(gql, token, clock)
    clock.advance(30)
    good = code_at(secret, clock.now)
    code = {
        "wrong": f"{(int(good) + 1) % 1_000_000:06d}",
        "expired": code_at(secret, clock.now, -2),
        "malformed": "12ab!",
        "made-up backup": "abcde-fghjk",
    }[kind]
    before = await mfa_state(db, user.id)
    answer = (await gql.data(DISABLE, {"code": code}, token=token))["disableMfa"]
    assert answer["errors"] == [
        {"field": "code", "code": "INVALID_CODE", "message": "The code is not valid."}
    ]
    assert await mfa_state(db, user.id) == before
    assert (await gql.data(ME, token=token))["me"]["mfaEnabled"] is True


async def test_disable_with_a_totp(gql, db, alice, clock):
    user, token = alice
    secret, _ = await enrol(gql, token, clock)
    clock.advance(30)
    answer = (await gql.data(DISABLE, {"code": code_at(secret, clock.now)}, token=token))[
        "disableMfa"
    ]
    assert answer == {"me": {"mfaEnabled": False}, "errors": []}
    state = await mfa_state(db, user.id)
    assert (state.enabled, state.secret, state.pending, state.last_step) == (
        False,
        None,
        None,
        None,
    )
    assert state.backup_codes == ()


async def test_disable_with_a_backup_code_typed_loosely(gql, db, alice, clock):
    user, token = alice
    _, backup = await enrol(gql, token, clock)
    typed = " " + backup[3].upper().replace("-", " ") + " "
    answer = (await gql.data(DISABLE, {"code": typed}, token=token))["disableMfa"]
    assert answer["errors"] == []
    assert (await mfa_state(db, user.id)).enabled is False


# --------------------------------------------------------------------------- backup codes


async def test_regenerate_replaces_every_backup_code(gql, db, services, alice, clock):
    user, token = alice
    secret, old = await enrol(gql, token, clock)
    clock.advance(30)
    answer = (await gql.data(REGENERATE, {"code": code_at(secret, clock.now)}, token=token))[
        "regenerateBackupCodes"
    ]
    assert answer["errors"] == []
    new = answer["backupCodes"]
    assert len(new) == 10 and not set(new) & set(old)
    state = await mfa_state(db, user.id)
    assert len(state.backup_codes) == 10 and all(used is None for _, used in state.backup_codes)
    before = await mfa_state(db, user.id)
    refused = (await gql.data(DISABLE, {"code": old[0]}, token=token))["disableMfa"]
    assert codes_of(refused) == ["INVALID_CODE"]
    assert await mfa_state(db, user.id) == before
    accepted = (await gql.data(REGENERATE, {"code": new[0]}, token=token))["regenerateBackupCodes"]
    assert accepted["errors"] == [] and len(accepted["backupCodes"]) == 10


async def test_regenerate_refuses_bad_codes_and_when_off(gql, db, alice, clock):
    user, token = alice
    off = (await gql.data(REGENERATE, {"code": "123456"}, token=token))["regenerateBackupCodes"]
    assert codes_of(off) == ["MFA_NOT_ENABLED"] and off["backupCodes"] is None
    secret, _ = await enrol(gql, token, clock)
    before = await mfa_state(db, user.id)
    for code in ("999999" if code_at(secret, clock.now) != "999999" else "999998", "nope"):
        answer = (await gql.data(REGENERATE, {"code": code}, token=token))["regenerateBackupCodes"]
        assert codes_of(answer) == ["INVALID_CODE"] and answer["backupCodes"] is None
    assert await mfa_state(db, user.id) == before


async def test_a_backup_code_works_once(gql, db, services, alice, clock):
    user, token = alice
    _, backup = await enrol(gql, token, clock)
    async with open_unit(services) as unit:
        fresh = await unit.session.get(User, user.id)
        assert await unit.transaction(mfa_codes.accept_code, user=fresh, code=backup[4]) is True
    before = await mfa_state(db, user.id)
    assert sum(used is not None for _, used in before.backup_codes) == 1
    async with open_unit(services) as unit:
        fresh = await unit.session.get(User, user.id)
        assert await unit.transaction(mfa_codes.accept_code, user=fresh, code=backup[4]) is False
    answer = (await gql.data(DISABLE, {"code": backup[4]}, token=token))["disableMfa"]
    assert codes_of(answer) == ["INVALID_CODE"]
    assert await mfa_state(db, user.id) == before


async def test_a_totp_step_is_accepted_once_within_the_window(gql, db, alice, clock):
    user, token = alice
    secret, _ = await enrol(gql, token, clock)
    clock.advance(120)  # past the step that enabled MFA
    for steps, accepted in ((-2, False), (2, False), (-1, True), (-1, False), (0, True), (1, True)):
        before = await mfa_state(db, user.id)
        answer = (
            await gql.data(REGENERATE, {"code": code_at(secret, clock.now, steps)}, token=token)
        )["regenerateBackupCodes"]
        if accepted:
            assert answer["errors"] == [], (steps, answer)
        else:
            assert codes_of(answer) == ["INVALID_CODE"], (steps, answer)
            assert await mfa_state(db, user.id) == before
    # the newest step was taken: the current step's code is now a replay too
    answer = (await gql.data(REGENERATE, {"code": code_at(secret, clock.now)}, token=token))[
        "regenerateBackupCodes"
    ]
    assert codes_of(answer) == ["INVALID_CODE"]


# --------------------------------------------------------------------------- admin reset


async def test_admin_reset_turns_mfa_off_and_is_logged(gql, db, services, alice, clock, caplog):
    user, token = alice
    await enrol(gql, token, clock)
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    admin_token = await login_token(services, admin)
    caplog.set_level(logging.INFO, logger="stridegraph.audit")
    answer = (await gql.data(RESET, {"id": relay.to_base64("User", user.id)}, token=admin_token))[
        "resetUserMfa"
    ]
    assert answer == {
        "user": {"id": relay.to_base64("User", user.id), "mfaEnabled": False},
        "errors": [],
    }
    state = await mfa_state(db, user.id)
    assert (state.enabled, state.secret, state.backup_codes) == (False, None, ())
    records = [r for r in caplog.records if getattr(r, "event", None) == "mfa_reset"]
    assert len(records) == 1
    assert (records[0].admin_id, records[0].user_id) == (admin.id, user.id)
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["logger"] == "stridegraph.audit" and line["event"] == "mfa_reset"
    assert (line["admin_id"], line["user_id"]) == (admin.id, user.id)
    assert (await gql.data(ME, token=token))["me"]["mfaEnabled"] is False


async def test_admin_reset_refusals_change_nothing(gql, db, services, alice, clock, caplog):
    user, _ = alice
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    admin_token = await login_token(services, admin)
    caplog.set_level(logging.INFO, logger="stridegraph.audit")
    cases = {
        relay.to_base64("User", user.id): "MFA_NOT_ENABLED",
        relay.to_base64("User", 999_999): "NOT_FOUND",
        "not-an-id": "INVALID",
        relay.to_base64("User", admin.id): "CANNOT_MODIFY_SELF",
    }
    await enrol(gql, admin_token, clock)
    admin_before = await mfa_state(db, admin.id)
    user_before = await mfa_state(db, user.id)
    for global_id, code in cases.items():
        answer = (await gql.data(RESET, {"id": global_id}, token=admin_token))["resetUserMfa"]
        assert answer["user"] is None
        assert [(e["field"], e["code"]) for e in answer["errors"]] == [("id", code)]
    assert await mfa_state(db, admin.id) == admin_before
    assert await mfa_state(db, user.id) == user_before
    assert not [r for r in caplog.records if getattr(r, "event", None) == "mfa_reset"]


# --------------------------------------------------------------------------- encryption at rest


async def test_a_secret_under_an_old_key_still_verifies_after_rotation(db, services, clock):
    user = await make_user(services, "carol")
    viewer = Viewer(user=user, scopes=scopes_for(user.access_type), signed_in_at=clock.now)
    old_key, new_key = "old-key-" + "a" * 32, "new-key-" + "b" * 32
    old = dataclasses.replace(services, cipher=SecretCipher((old_key,)))
    async with open_unit(old) as unit:
        setup = await unit.transaction(mfa.setup_mfa, viewer=viewer)
    async with open_unit(old) as unit:
        fresh = await unit.session.get(User, user.id)
        await unit.transaction(
            mfa.enable_mfa,
            viewer=Viewer(user=fresh, scopes=viewer.scopes, signed_in_at=clock.now),
            code=code_at(setup.secret, clock.now),
        )
    stored = (await mfa_state(db, user.id)).secret
    with pytest.raises(ValueError):
        SecretCipher((new_key,)).decrypt(stored)

    rotated = dataclasses.replace(services, cipher=SecretCipher((new_key, old_key)))
    clock.advance(30)
    async with open_unit(rotated) as unit:
        fresh = await unit.session.get(User, user.id)
        assert await unit.transaction(
            mfa_codes.accept_code, user=fresh, code=code_at(setup.secret, clock.now)
        )
    async with open_unit(rotated) as unit:
        assert await unit.transaction(mfa.reencrypt_secrets) == 1
    async with open_unit(rotated) as unit:
        assert await unit.transaction(mfa.reencrypt_secrets) == 0
    stored = (await mfa_state(db, user.id)).secret
    assert SecretCipher((new_key,)).decrypt(stored) == setup.secret

    only_new = dataclasses.replace(services, cipher=SecretCipher((new_key,)))
    clock.advance(30)
    async with open_unit(only_new) as unit:
        fresh = await unit.session.get(User, user.id)
        assert await unit.transaction(
            mfa_codes.accept_code, user=fresh, code=code_at(setup.secret, clock.now)
        )


async def test_the_admin_view_reflects_the_state_and_others_see_null(gql, services, alice, clock):
    user, token = alice
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    admin_token = await login_token(services, admin)
    other_token = await login_token(services, await make_user(services, "bob"))
    query = "query($id: ID!) { user(id: $id) { username mfaEnabled } }"
    variables = {"id": relay.to_base64("User", user.id)}

    async def seen_by(viewer_token: str):
        return (await gql.data(query, variables, token=viewer_token))["user"]["mfaEnabled"]

    assert await seen_by(admin_token) is False
    secret, _ = await enrol(gql, token, clock)
    assert await seen_by(admin_token) is True
    assert await seen_by(token) is True
    assert await seen_by(other_token) is None  # private field of another user
    clock.advance(30)
    await gql.data(DISABLE, {"code": code_at(secret, clock.now)}, token=token)
    assert await seen_by(admin_token) is False


async def test_concurrent_enables_enable_once(gql, db, services, alice, clock):
    user, token = alice
    secret = (await gql.data(SETUP, token=token))["setupMfa"]["secret"]
    code = code_at(secret, clock.now)
    bodies = await asyncio.gather(
        *(gql.execute(ENABLE, {"code": code}, token=token) for _ in range(2))
    )
    answers = [b["data"]["enableMfa"] for b in bodies]
    outcomes = sorted(codes_of(a)[0] if a["errors"] else "enabled" for a in answers)
    assert outcomes == ["MFA_ALREADY_ENABLED", "enabled"], bodies
    winner = next(a for a in answers if not a["errors"])
    state = await mfa_state(db, user.id)
    assert state.enabled
    key = services.settings.secret_key
    assert {h for h, _ in state.backup_codes} == {
        mfa_codes.backup_digest(key, user.id, c.replace("-", "")) for c in winner["backupCodes"]
    }


async def test_mfa_payloads_name_the_viewer_user_and_keep_me_deprecated(gql, alice, clock):
    """``user``, as every other payload names it; ``me`` still answers the same."""
    _, token = alice
    setup = (await gql.data(SETUP, token=token))["setupMfa"]
    enable = """mutation($code: String!) { enableMfa(code: $code) {
      user { username mfaEnabled } me { username mfaEnabled } errors { code } } }"""
    enabled = await gql.data(enable, {"code": code_at(setup["secret"], clock.now)}, token=token)
    assert enabled["enableMfa"]["user"] == {"username": "alice", "mfaEnabled": True}
    assert enabled["enableMfa"]["me"] == enabled["enableMfa"]["user"]
    clock.advance(30)
    disable = """mutation($code: String!) { disableMfa(code: $code) {
      user { mfaEnabled } me { mfaEnabled } errors { code } } }"""
    code = code_at(setup["secret"], clock.now)
    disabled = (await gql.data(disable, {"code": code}, token=token))["disableMfa"]
    assert disabled == {"user": {"mfaEnabled": False}, "me": {"mfaEnabled": False}, "errors": []}
    sdl = export_sdl()
    for payload in ("EnableMfaPayload", "DisableMfaPayload"):
        block = sdl[sdl.index(f"type {payload}") :].split("}", 1)[0]
        assert 'me: UserMe @deprecated(reason: "Use user' in block, block
