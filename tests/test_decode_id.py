"""One behaviour for a malformed id (``graph.errors.decode_id``): in every mutation a
payload error ``{field: "id", code: INVALID}`` with nothing changed, in every query a
top-level BAD_USER_INPUT naming the argument. A well-formed id of nothing stays NOT_FOUND."""

from __future__ import annotations

import pytest
from strawberry import relay

from tests.helpers import login_token, make_user
from tests.users_support import snapshot

ADMIN_PASSWORD = "admin password long 1A!"
#: mutation name -> (document, whether an admin sends it)
MUTATIONS = {
    "updateUser": ('updateUser(id: $id, input: {city: "X"})', True),
    "setUserPassword": ('setUserPassword(id: $id, password: "a long new password 1")', True),
    "approveUser": ("approveUser(id: $id)", True),
    "deleteUser": ("deleteUser(id: $id)", True),
    "revokeUserApiTokens": ("revokeUserApiTokens(id: $id)", True),
    "revokeUserSessions": ("revokeUserSessions(id: $id)", True),
    "deleteUserPhoto": ("deleteUserPhoto(id: $id)", True),
    "resetUserMfa": ("resetUserMfa(id: $id)", True),
    "sendPasswordResetEmail": ("sendPasswordResetEmail(id: $id)", True),
    "revokeSession": ("revokeSession(id: $id)", False),
    "revokeApiToken": ("revokeApiToken(id: $id)", False),
}
MALFORMED = ["zzz", "", "MQ==", relay.to_base64("Nope", 1), relay.to_base64("User", 0)]


@pytest.fixture
async def tokens(services):
    admin = await make_user(services, "root", admin=True, password=ADMIN_PASSWORD)
    regular = await make_user(services, "alice")
    return {True: await login_token(services, admin), False: await login_token(services, regular)}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
async def test_a_malformed_id_is_invalid_in_every_mutation(gql, db, tokens, name):
    call, admin = MUTATIONS[name]
    query = f"mutation($id: ID!) {{ {call} {{ errors {{ field code }} }} }}"
    for malformed in [
        *MALFORMED,
        relay.to_base64("Session" if name != "revokeSession" else "User", 1),
    ]:
        before = await snapshot(db)
        body = await gql.data(query, {"id": malformed}, token=tokens[admin])
        assert body[name]["errors"] == [{"field": "id", "code": "INVALID"}], (name, malformed)
        assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("query($id: ID!) { user(id: $id) { id } }", "user"),
        ("query($id: ID!) { userApiTokens(id: $id) { id } }", "userApiTokens"),
    ],
)
async def test_a_malformed_id_is_bad_user_input_in_queries(gql, tokens, query, name):
    for malformed in MALFORMED:
        body = await gql.execute(query, {"id": malformed}, token=tokens[True])
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (name, malformed)
        assert error["extensions"]["field"] == "id"
        assert error["message"] == "id is not a User id."
