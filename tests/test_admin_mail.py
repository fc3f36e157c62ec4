"""Admin mutations that depend on mail being enabled: createUser without a password mails a
link to set one; approveUser says EMAIL_NOT_VERIFIED while verification is required, and
mails the user once approved."""

from __future__ import annotations

import pytest
from strawberry import relay

from tests.helpers import login_token, make_user
from tests.mail_fixtures import mail_settings
from tests.users_support import gid, set_settings, snapshot, user_row

APPROVE = """mutation($id: ID!) {
  approveUser(id: $id) { user { active pendingAdminApproval } errors { field code } } }"""
CREATE = """mutation($input: CreateUserInput!) {
  createUser(input: $input) { user { id } errors { field code } } }"""


@pytest.fixture
def settings(settings, smtp):
    return mail_settings(settings, smtp)


async def test_create_user_without_a_password_mails_a_link(gql, services, db, smtp):
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    token = await login_token(services, admin)
    body = await gql.data(
        CREATE,
        {"input": {"username": "invited", "email": "invited@example.com", "name": "Invited"}},
        token=token,
    )
    assert body["createUser"]["errors"] == []
    await smtp.wait_for(1)
    assert len(smtp.to("invited@example.com")) == 1
    user_id = int(relay.from_base64(body["createUser"]["user"]["id"])[1])
    assert (await user_row(db, user_id))["password_hash"] is None


async def test_approval_waits_for_a_verified_address(gql, services, db, smtp):
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    token = await login_token(services, admin)
    pending = await make_user(
        services, "waiting", active=False, pending_admin_approval=True, email_verified=False
    )
    await set_settings(db, signup_require_email_verification=True)
    before = await snapshot(db)
    body = await gql.data(APPROVE, {"id": gid(pending)}, token=token)
    assert body["approveUser"] == {
        "user": None,
        "errors": [{"field": None, "code": "EMAIL_NOT_VERIFIED"}],
    }
    assert await snapshot(db) == before
    # with verification no longer required, the same approval goes through and is mailed
    await set_settings(db, signup_require_email_verification=False)
    body = await gql.data(APPROVE, {"id": gid(pending)}, token=token)
    assert body["approveUser"]["errors"] == []
    row = await user_row(db, pending.id)
    assert row["active"] is True and row["pending_admin_approval"] is False
    await smtp.wait_for(1)
    assert len(smtp.to("waiting@example.com")) == 1


async def test_a_verified_pending_user_is_approved_while_verification_is_required(
    gql, services, db, smtp
):
    admin = await make_user(services, "root", admin=True, password="admin password long 1A!")
    token = await login_token(services, admin)
    pending = await make_user(services, "verified", active=False, pending_admin_approval=True)
    await set_settings(db, signup_require_email_verification=True)
    body = await gql.data(APPROVE, {"id": gid(pending)}, token=token)
    assert body["approveUser"]["user"] == {"active": True, "pendingAdminApproval": False}
