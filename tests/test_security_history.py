"""Security events (issue 18, points 1, 2 and 4): rows written with the action, read back as
the user's history and the admins' audit log, keyset-paged, purged after the retention
period; sessions show where they are."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from strawberry import relay

from stridegraph.db.models import SecurityEvent
from stridegraph.domain import retention, security_events
from stridegraph.domain.unit import open_unit
from tests.conftest import share_app_per_module
from tests.helpers import PASSWORD, login_token, make_user
from tests.mfa_support import COMPLETE, code_at, enrol, install_clock

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()

FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken errors { code } } }"""
MINE = """query($first: Int, $after: String, $filter: SecurityEventFilter) {
  mySecurityEvents(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id at type clientAddress userAgent sessionId detail
      actor { username } subject { username } } }
    pageInfo { hasNextPage endCursor } } }"""
AUDIT = """query($first: Int, $after: String, $filter: AuditEventFilter) {
  auditEvents(first: $first, after: $after, filter: $filter) {
    edges { cursor node { type actor { username } subject { username } detail } }
    pageInfo { hasNextPage endCursor } } }"""
CHANGE_PASSWORD = """mutation($c: String!, $n: String!) {
  changePassword(currentPassword: $c, newPassword: $n) { errors { code } } }"""
SESSIONS = "{ mySessions { id userAgent userAgentSummary clientAddress current createdAt } }"


async def events(db) -> list[SecurityEvent]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(SecurityEvent).order_by(SecurityEvent.id))
        return list(rows.all())  # type: ignore[arg-type]


async def login(gql, username, password=PASSWORD, agent=FIREFOX, address=None):
    headers = {"User-Agent": agent}
    return (await gql.data(LOGIN, {"u": username, "p": password}, headers=headers))["login"]


async def test_a_sign_in_is_a_row_with_method_address_agent_and_session(gql, services, db):
    await make_user(services, "alice")
    answer = await login(gql, "alice")
    assert answer["errors"] == []
    (row,) = await events(db)
    assert row.type == "SIGN_IN_SUCCEEDED"
    assert row.subject_id == row.actor_id and row.subject_id is not None
    assert row.user_agent == "Firefox 121 on Ubuntu"
    assert row.client_address  # the proxy rules' answer for the test client
    assert row.session_id is not None
    assert row.detail == {"method": "PASSWORD", "newDevice": False}

    page = (await gql.data(MINE, token=answer["accessToken"]))["mySecurityEvents"]
    (edge,) = page["edges"]
    node = edge["node"]
    assert node["type"] == "SIGN_IN_SUCCEEDED"
    assert node["userAgent"] == "Firefox 121 on Ubuntu"
    assert node["actor"] == node["subject"] == {"username": "alice"}
    assert relay.from_base64(node["sessionId"]) == ("Session", str(row.session_id))
    assert page["pageInfo"]["hasNextPage"] is False


async def test_failed_sign_ins_and_lockout_are_recorded_without_secrets(gql, services, db):
    alice = await make_user(services, "alice")
    wrong = "not-the-password-but-a-secret"
    for _ in range(services.settings.login_max_failures_account):
        assert (await login(gql, "alice", wrong))["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    for _ in range(3):  # hammering a locked account: one LOCKOUT per window, not per try
        locked = await login(gql, "alice", wrong)
        assert locked["errors"] == [{"code": "TOO_MANY_ATTEMPTS"}]
    unknown = await login(gql, "nobody-typed-this", "another-secret")
    assert unknown["errors"] == [{"code": "INVALID_CREDENTIALS"}]

    rows = await events(db)
    kinds = [(r.type, r.subject_id) for r in rows]
    failures = services.settings.login_max_failures_account
    assert kinds == [
        *[("SIGN_IN_FAILED", alice.id)] * failures,
        ("LOCKOUT", alice.id),
        ("SIGN_IN_FAILED", None),  # an unknown account: nothing linked
    ]
    assert rows[0].detail == {"method": "PASSWORD", "reason": "INVALID_CREDENTIALS"}
    assert rows[-1].actor_id is None
    everything = repr([tuple(r) for r in rows])
    for secret in (wrong, "another-secret", "nobody-typed-this", PASSWORD):
        assert secret not in everything


async def test_a_password_change_is_recorded_only_when_it_happens(gql, services, db):
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    refused = await gql.data(CHANGE_PASSWORD, {"c": "wrong password!", "n": "x"}, token=token)
    assert refused["changePassword"]["errors"]
    assert [r.type for r in await events(db)] == []  # refused: nothing happened
    done = await gql.data(
        CHANGE_PASSWORD, {"c": PASSWORD, "n": "another good password 2B?"}, token=token
    )
    assert done["changePassword"]["errors"] == []
    (row,) = await events(db)
    assert row.type == "PASSWORD_CHANGED" and row.subject_id == alice.id
    assert "another good password" not in repr(tuple(row))


async def test_my_events_are_keyset_paged_newest_first_and_filtered(gql, services, db):
    alice = await make_user(services, "alice")
    await make_user(services, "bob")
    for _ in range(5):
        await login(gql, "alice")
    await login(gql, "bob")
    await login(gql, "alice", "wrong password")
    token = await login_token(services, alice)
    seen: list[str] = []
    after = None
    while True:
        page = (await gql.data(MINE, {"first": 2, "after": after}, token=token))["mySecurityEvents"]
        seen += [e["node"]["type"] for e in page["edges"]]
        assert all(e["node"]["subject"] == {"username": "alice"} for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["SIGN_IN_FAILED"] + ["SIGN_IN_SUCCEEDED"] * 5
    only = (await gql.data(MINE, {"filter": {"type": ["SIGN_IN_FAILED"]}}, token=token))[
        "mySecurityEvents"
    ]["edges"]
    assert [e["node"]["type"] for e in only] == ["SIGN_IN_FAILED"]
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    none = (await gql.data(MINE, {"filter": {"since": future.isoformat()}}, token=token))[
        "mySecurityEvents"
    ]["edges"]
    assert none == []


@pytest.mark.parametrize("cursor", ["nope", "W10", relay.to_base64("x", 1), "a" * 300])
async def test_a_bad_cursor_or_page_size_is_bad_user_input(gql, services, cursor):
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    answer = await gql.execute(MINE, {"after": cursor}, token=token)
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    answer = await gql.execute(MINE, {"first": 101}, token=token)
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_admin_actions_are_in_the_audit_log_with_actor_and_target(gql, services, db):
    admin = await make_user(services, "root", admin=True)
    bob = await make_user(services, "bob")
    admin_token = await login_token(services, admin)
    bob_id = relay.to_base64("User", bob.id)
    revoke = "mutation($id: ID!) { revokeUserSessions(id: $id) { errors { code } } }"
    assert (await gql.data(revoke, {"id": bob_id}, token=admin_token))["revokeUserSessions"][
        "errors"
    ] == []
    settings = """mutation { updateServerSettings(input: {publicProfiles: true}) {
      errors { code } } }"""
    await gql.data(settings, token=admin_token)
    await login(gql, "bob")

    log = (await gql.data(AUDIT, token=admin_token))["auditEvents"]["edges"]
    assert [e["node"]["type"] for e in log] == [
        "SIGN_IN_SUCCEEDED",
        "SERVER_SETTINGS_CHANGED",
        "ADMIN_SESSIONS_REVOKED",
    ]
    assert log[2]["node"]["actor"] == {"username": "root"}
    assert log[2]["node"]["subject"] == {"username": "bob"}
    assert log[1]["node"]["detail"] == {"fields": ["public_profiles"]}
    by_admin = (
        await gql.data(
            AUDIT, {"filter": {"actor": relay.to_base64("User", admin.id)}}, token=admin_token
        )
    )["auditEvents"]["edges"]
    assert [e["node"]["type"] for e in by_admin] == [
        "SERVER_SETTINGS_CHANGED",
        "ADMIN_SESSIONS_REVOKED",
    ]
    about_bob = (
        await gql.data(
            AUDIT,
            {"filter": {"subject": bob_id, "type": ["ADMIN_SESSIONS_REVOKED"]}},
            token=admin_token,
        )
    )["auditEvents"]["edges"]
    assert len(about_bob) == 1

    bob_token = await login_token(services, bob)
    refused = await gql.execute(AUDIT, token=bob_token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused["data"] is None
    # bob's own history has the admin's action on him, not the admin's other doings
    mine = (await gql.data(MINE, token=bob_token))["mySecurityEvents"]["edges"]
    assert [e["node"]["type"] for e in mine] == ["SIGN_IN_SUCCEEDED", "ADMIN_SESSIONS_REVOKED"]


async def test_the_purge_deletes_events_past_the_retention_period(services, db, gql):
    await make_user(services, "alice")
    await login(gql, "alice")
    await login(gql, "alice")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(
        seconds=services.settings.retention_security_events_seconds + 60
    )
    async with db.engine.begin() as conn:
        first = (await conn.execute(select(SecurityEvent.id).order_by(SecurityEvent.id))).first()
        await conn.execute(update(SecurityEvent).where(SecurityEvent.id == first[0]).values(at=old))
    report = await retention.purge(services)
    assert report.counts["security_events"] == 1
    assert len(await events(db)) == 1


async def test_sessions_show_agent_summary_address_and_which_is_current(gql, services, db):
    await make_user(services, "alice")
    first = await login(gql, "alice", agent=IPHONE)
    second = await login(gql, "alice", agent=FIREFOX)
    listed = (await gql.data(SESSIONS, token=second["accessToken"]))["mySessions"]
    assert [(s["userAgentSummary"], s["current"]) for s in listed] == [
        ("Firefox 121 on Ubuntu", True),
        ("Mobile Safari 17 on iOS 17 (iPhone)", False),
    ]
    assert all(s["clientAddress"] and s["createdAt"] for s in listed)
    assert first["accessToken"] != second["accessToken"]


MFA_LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  mfaToken errors { code } } }"""


async def test_mfa_sign_ins_record_the_method_and_a_spent_backup_code(gql, services, db):
    clock = install_clock(services)
    alice = await make_user(services, "alice")
    token = await login_token(services, alice)
    secret, backup = await enrol(gql, token, clock)
    challenge = (await gql.data(MFA_LOGIN, {"u": "alice", "p": PASSWORD}))["login"]["mfaToken"]
    bad = (await gql.data(COMPLETE, {"t": challenge, "c": "000000"}))["completeMfaLogin"]
    assert bad["errors"][0]["code"] == "INVALID_CODE"
    clock.advance(30)
    good = (await gql.data(COMPLETE, {"t": challenge, "c": code_at(secret, clock.now)}))[
        "completeMfaLogin"
    ]
    assert good["errors"] == []
    challenge = (await gql.data(MFA_LOGIN, {"u": "alice", "p": PASSWORD}))["login"]["mfaToken"]
    with_backup = (await gql.data(COMPLETE, {"t": challenge, "c": backup[0]}))["completeMfaLogin"]
    assert with_backup["errors"] == []
    rows = [(r.type, r.detail.get("method")) for r in await events(db)]
    assert rows == [
        ("MFA_ENABLED", None),
        ("SIGN_IN_FAILED", "MFA"),
        ("SIGN_IN_SUCCEEDED", "MFA"),
        ("BACKUP_CODE_USED", None),
        ("SIGN_IN_SUCCEEDED", "MFA"),
    ]
    everything = repr([tuple(r) for r in await events(db)])
    assert secret not in everything and backup[0] not in everything


async def test_record_refuses_detail_that_could_hold_a_secret(services, db):
    async with open_unit(services) as unit:
        for key in ("password", "refreshToken", "backupCodes", "mfaSecret", "apiKey"):
            with pytest.raises(ValueError):
                await security_events.record(
                    unit,
                    type=security_events.EventType.PROFILE_UPDATED,
                    subject_id=None,
                    detail={key: "x"},
                )
    assert await events(db) == []


REFRESH = """mutation($t: String!) { refreshSession(refreshToken: $t) {
  refreshToken errors { code } } }"""
SIGN_IN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  refreshToken errors { code } } }"""


async def test_a_replayed_refresh_token_records_the_revocation(gql, services, db):
    alice = await make_user(services, "alice")
    stolen = (await gql.data(SIGN_IN, {"u": "alice", "p": PASSWORD}))["login"]["refreshToken"]
    assert (await gql.data(REFRESH, {"t": stolen}))["refreshSession"]["errors"] == []
    later = dt.timedelta(seconds=services.settings.refresh_reuse_grace_seconds + 1)
    services.clock = lambda: dt.datetime.now(dt.UTC) + later
    replay = (await gql.data(REFRESH, {"t": stolen}))["refreshSession"]
    assert replay["errors"] == [{"code": "INVALID_TOKEN"}]
    last = (await events(db))[-1]
    assert last.type == "SESSION_REVOKED" and last.subject_id == alice.id
    assert last.detail["reason"] == "REFRESH_TOKEN_REUSED"
    assert stolen not in repr(tuple(last))
