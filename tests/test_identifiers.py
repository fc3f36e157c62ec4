"""Identifiers (issue 11, point 8): ids are never reused, e-mail addresses match on their
NFC + casefold key on both databases, usernames follow the seed's rule, free text refuses
control characters, and failed logins count against the account, not the typed identifier."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, func, select

from stridegraph.db.models import ApiToken, LoginAttempt, User
from stridegraph.domain import accounts
from stridegraph.domain.errors import DomainError, ErrorCode
from stridegraph.domain.unit import open_unit
from tests.conftest import share_app_per_module
from tests.helpers import PASSWORD, login_token, make_user, scoped_token
from tests.users_support import snapshot

# One app per database for the module; every test still starts on an empty database.
shared_app, settings, services, app = share_app_per_module()

LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken user { id username } errors { field code retryAfterSeconds } } }"""
CREATE = """mutation($input: CreateUserInput!) { createUser(input: $input) {
  user { id } errors { field code } } }"""
UPDATE_ME = """mutation($input: UpdateMeInput!) { updateMe(input: $input) {
  user { name city } errors { field code } } }"""
USER_BY_EMAIL = "query($e: String!) { userByEmail(email: $e) { username } }"

#: Pairs of addresses that are one address: case beyond ASCII, the Kelvin sign, NFC vs NFD.
SAME_ADDRESS = [
    pytest.param("Ärger@x.org", "ärger@x.org", id="umlaut-case"),
    pytest.param("\u212aate@x.org", "kate@x.org", id="kelvin-sign"),
    pytest.param("jos\u00e9@x.org", "jose\u0301@x.org", id="nfc-nfd"),
]


async def count(db: Any, model: Any, *where: Any) -> int:
    async with db.engine.connect() as conn:
        query = select(func.count()).select_from(model).where(*where)
        return int((await conn.execute(query)).scalar_one())


async def delete_rows(db: Any, model: Any, *where: Any) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(delete(model).where(*where))


# --------------------------------------------------------------------------- ids


async def test_a_deleted_users_id_is_never_given_again(services, db):
    await make_user(services, "first")
    highest = await make_user(services, "second")
    await delete_rows(db, User, User.id == highest.id)
    newcomer = await make_user(services, "third")
    assert newcomer.id > highest.id


async def test_a_deleted_api_tokens_id_is_never_given_again(services, db):
    owner = await make_user(services, "owner")
    await scoped_token(services, owner, ["users:read"])
    async with db.engine.connect() as conn:
        highest = (await conn.execute(select(func.max(ApiToken.id)))).scalar_one()
    await delete_rows(db, ApiToken, ApiToken.id == highest)
    await scoped_token(services, owner, ["users:read"])
    async with db.engine.connect() as conn:
        newest = (await conn.execute(select(func.max(ApiToken.id)))).scalar_one()
    assert newest > highest


# --------------------------------------------------------------------------- e-mail keys


@pytest.mark.parametrize(("stored", "typed"), SAME_ADDRESS)
async def test_one_address_in_any_form_is_one_account(gql, services, db, stored, typed):
    admin = await make_user(services, "admin", admin=True)
    token = await login_token(services, admin)
    owner = await make_user(services, "owner", email=stored)
    before = await snapshot(db)
    body = await gql.data(
        CREATE,
        {"input": {"username": "other", "email": typed, "name": "Other", "password": PASSWORD}},
        token=token,
    )
    assert body["createUser"] == {
        "user": None,
        "errors": [{"field": "email", "code": "EMAIL_TAKEN"}],
    }
    assert await snapshot(db) == before
    found = await gql.data(USER_BY_EMAIL, {"e": typed}, token=token)
    assert found["userByEmail"] == {"username": "owner"}
    signed_in = (await gql.data(LOGIN, {"u": typed, "p": PASSWORD}))["login"]
    assert signed_in["errors"] == [] and signed_in["user"]["username"] == "owner"
    assert (
        signed_in["user"]["id"]
        == (await gql.data(LOGIN, {"u": stored, "p": PASSWORD}))["login"]["user"]["id"]
    )
    assert owner.email == stored  # stored as given


async def test_changing_to_another_form_of_a_taken_address_is_taken(services, db):
    await make_user(services, "owner", email="Ärger@x.org")
    other = await make_user(services, "other", email="other@x.org")
    async with open_unit(services) as unit:
        row = await unit.session.get(User, other.id)
        with pytest.raises(DomainError) as refused:
            await unit.transaction(
                accounts.save_profile, user=row, changes={"email": "ÄRGER@X.ORG"}
            )
    assert [p.code for p in refused.value.problems] == [ErrorCode.EMAIL_TAKEN]
    async with db.engine.connect() as conn:
        email = (await conn.execute(select(User.email).where(User.id == other.id))).scalar()
    assert email == "other@x.org"


# --------------------------------------------------------------------------- usernames, text


@pytest.mark.parametrize("username", [".", "..", "...", "a b", "ü.ber", "tab\there"])
async def test_usernames_follow_the_seed_rule(gql, services, db, username):
    admin = await make_user(services, "admin", admin=True)
    token = await login_token(services, admin)
    before = await snapshot(db)
    body = await gql.data(
        CREATE,
        {"input": {"username": username, "email": "n@x.org", "name": "N", "password": PASSWORD}},
        token=token,
    )
    assert body["createUser"]["errors"] == [{"field": "username", "code": "INVALID"}]
    assert await snapshot(db) == before


async def test_dotted_usernames_with_a_letter_are_fine(gql, services, db):
    admin = await make_user(services, "admin", admin=True)
    token = await login_token(services, admin)
    body = await gql.data(
        CREATE,
        {"input": {"username": ".a.", "email": "n@x.org", "name": "N", "password": PASSWORD}},
        token=token,
    )
    assert body["createUser"]["errors"] == []


@pytest.mark.parametrize("field", ["name", "city"])
@pytest.mark.parametrize(
    "bad", ["a\x07b", "line\nbreak", "\u202eevil", "zero\u200bwidth", "del\x7f"]
)
async def test_control_characters_in_free_text_are_invalid(gql, services, db, field, bad):
    user = await make_user(services, "regular", name="Regular")
    token = await login_token(services, user)
    before = await snapshot(db)
    body = await gql.data(UPDATE_ME, {"input": {field: bad}}, token=token)
    assert body["updateMe"] == {"user": None, "errors": [{"field": field, "code": "INVALID"}]}
    assert await snapshot(db) == before


async def test_joiners_are_allowed_in_names(gql, services, db):
    user = await make_user(services, "regular", name="Regular")
    token = await login_token(services, user)
    name = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \U0001f469\u200d\U0001f4bb"
    body = await gql.data(UPDATE_ME, {"input": {"name": name}}, token=token)
    assert body["updateMe"] == {"user": {"name": name, "city": None}, "errors": []}


# --------------------------------------------------------------------------- login failures


async def test_failures_by_username_and_by_address_share_one_count(gql, services, db):
    await make_user(services, "alice", email="Ärger@x.org")
    typed = ["alice", "ALICE", "ärger@x.org", "ÄRGER@X.ORG", "a\u0308rger@x.org"]
    for identifier in typed:
        body = (await gql.data(LOGIN, {"u": identifier, "p": "wrong"}))["login"]
        assert [e["code"] for e in body["errors"]] == ["INVALID_CREDENTIALS"]
    for identifier in ("alice", "Ärger@x.org"):
        refused = (await gql.data(LOGIN, {"u": identifier, "p": PASSWORD}))["login"]
        assert [e["code"] for e in refused["errors"]] == ["TOO_MANY_ATTEMPTS"]
        assert refused["accessToken"] is None
    assert await count(db, LoginAttempt) == 5


async def test_unknown_identifiers_are_limited_alike(gql, services, db):
    await make_user(services, "alice")
    for identifier in ("ghost@x.org", "GHOST@x.org", "ghost@x.org ", "ghost@x.org", "Ghost@X.org"):
        body = (await gql.data(LOGIN, {"u": identifier, "p": "wrong"}))["login"]
        assert [e["code"] for e in body["errors"]] == ["INVALID_CREDENTIALS"]
    refused = (await gql.data(LOGIN, {"u": "ghost@x.org", "p": "wrong"}))["login"]
    assert [e["code"] for e in refused["errors"]] == ["TOO_MANY_ATTEMPTS"]
    # another account is not affected
    fine = (await gql.data(LOGIN, {"u": "alice", "p": PASSWORD}))["login"]
    assert fine["errors"] == []


USERS = """query($f: UserFilter) { users(first: 50, filter: $f) {
  edges { node { username } } } }"""


async def test_admin_search_matches_addresses_by_their_key(gql, services, db):
    admin = await make_user(services, "admin", admin=True)
    token = await login_token(services, admin)
    await make_user(services, "owner", email="ärger@x.org")
    await make_user(services, "kelvin", email="\u212aate@x.org")
    for search, expected in (
        ("ÄRGER@", {"owner"}),
        ("kate@", {"kelvin"}),
        ("A\u0308RG", {"owner"}),
    ):
        body = await gql.data(USERS, {"f": {"search": search}}, token=token)
        assert {e["node"]["username"] for e in body["users"]["edges"]} == expected, search
