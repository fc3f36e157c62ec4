"""Who may run what: every query and mutation by five kinds of viewer, each cell asserted.

A cell's expected outcome is one of:
- ``OK``: no top-level UNAUTHENTICATED/FORBIDDEN error (payload errors are fine);
- ``UNAUTHENTICATED`` / ``FORBIDDEN``: that top-level error code, and the field's data null.

``test_every_operation_has_a_row`` fails when the schema has an operation without a row here.
Each operation's document may use the variables ``$self`` (the viewer's own user id, or the
regular user's for anonymous), ``$other`` (a third, ordinary user's global id) and ``$admin``
(the admin's global id). Write documents that are valid for every viewer. A row with ``files``
is sent as a GraphQL multipart request, each variable it names filled with a small PNG.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from strawberry import relay

from stridegraph.db.enums import AccessType
from stridegraph.domain import accounts, api_tokens, sessions
from stridegraph.domain.scopes import PROFILE_READ, USERS_READ, scopes_for
from stridegraph.domain.unit import open_unit
from stridegraph.domain.viewer import Viewer
from stridegraph.graph.schema import build_schema
from tests.conftest import make_settings, share_app_per_module
from tests.helpers import PASSWORD
from tests.photos_support import png

# One app per database for the ~740 cells, not one each (building the schema was most of a
# cell's set-up); a cell depends only on the database, which is emptied before each cell.
shared_app, settings, services, app = share_app_per_module()

OK = "OK"
UNAUTH = "UNAUTHENTICATED"
FORBID = "FORBIDDEN"
VIEWERS = ("anonymous", "regular", "regular_profile_read", "admin", "admin_users_read")


@dataclass(frozen=True)
class Row:
    document: str
    anonymous: str
    regular: str
    regular_profile_read: str
    admin: str
    admin_users_read: str
    files: tuple[str, ...] = ()


def same_for_signed_in(document: str, anonymous: str, signed_in: str = OK) -> Row:
    return Row(document, anonymous, signed_in, signed_in, signed_in, signed_in)


def profile_read(document: str) -> Row:
    """Signed in with ``profile:read``."""
    return Row(document, UNAUTH, OK, OK, OK, FORBID)


def profile_write(document: str) -> Row:
    """Signed in with ``profile:write``."""
    return Row(document, UNAUTH, OK, FORBID, OK, FORBID)


def users_read(document: str) -> Row:
    """``users:read``; anonymous refused while ``publicProfiles`` is off (the default)."""
    return Row(document, UNAUTH, OK, FORBID, OK, OK)


def admin_write(document: str) -> Row:
    """``ADMIN`` and ``users:write``."""
    return Row(document, UNAUTH, FORBID, FORBID, OK, FORBID)


# Operation name -> row. Keep in schema order of families; add a row with every new operation.
ROWS: dict[str, Row] = {
    "me": profile_read("query { me { id } }"),
    "serverSettings": same_for_signed_in("query { serverSettings { signupEnabled } }", OK),
    # Users (issue 4). Reading users needs users:read; anonymous only with publicProfiles on
    # (off here: see tests/test_users_queries.py for the public case).
    "user": users_read("query($other: ID!) { user(id: $other) { id username } }"),
    "userByUsername": users_read('query { userByUsername(username: "other") { id } }'),
    "userByEmail": Row(
        'query { userByEmail(email: "other@example.com") { id email } }',
        UNAUTH,
        FORBID,
        FORBID,
        OK,
        OK,
    ),
    "users": users_read("query { users(first: 5) { totalCount edges { cursor node { id } } } }"),
    "userPage": users_read("query { userPage(perPage: 5) { totalCount items { id } } }"),
    "node": users_read("query($other: ID!) { node(id: $other) { id } }"),
    "updateMe": profile_write('mutation { updateMe(input: {city: "Porto"}) { errors { code } } }'),
    "updatePrivacySettings": profile_write(
        "mutation { updatePrivacySettings(input: {hideActivityMap: true}) { errors { code } } }"
    ),
    "deleteMe": profile_write('mutation { deleteMe(password: "wrong") { errors { code } } }'),
    "createUser": admin_write(
        'mutation { createUser(input: {username: "newbie", email: "newbie@example.com", '
        'name: "Newbie", password: "a long password 1A!"}) { user { id } errors { code } } }'
    ),
    "updateUser": admin_write(
        'mutation($other: ID!) { updateUser(id: $other, input: {city: "Braga"}) '
        "{ user { city } errors { code } } }"
    ),
    "setUserPassword": admin_write(
        'mutation($other: ID!) { setUserPassword(id: $other, password: "another password 1A!") '
        "{ errors { code } } }"
    ),
    "approveUser": admin_write(
        "mutation($other: ID!) { approveUser(id: $other) { errors { code } } }"
    ),
    "deleteUser": admin_write(
        "mutation($other: ID!) { deleteUser(id: $other) { errors { code } } }"
    ),
    "updateServerSettings": admin_write(
        "mutation { updateServerSettings(input: {publicProfiles: true}) { errors { code } } }"
    ),
    # Login, sessions, API tokens, password change (issue 5)
    "login": same_for_signed_in(
        'mutation { login(username: "nobody", password: "wrong") { errors { code } } }', OK
    ),
    "refreshSession": same_for_signed_in(
        'mutation { refreshSession(refreshToken: "sgr_bad") { errors { code } } }', OK
    ),
    "logout": profile_write("mutation { logout { errors { code } } }"),
    "mySessions": profile_read("query { mySessions { id current } }"),
    "myApiTokens": profile_read("query { myApiTokens { id prefix } }"),
    "revokeSession": profile_write(
        'mutation { revokeSession(id: "U2Vzc2lvbjow") { errors { code } } }'
    ),
    "revokeUserSessions": admin_write(
        "mutation($other: ID!) { revokeUserSessions(id: $other) { revokedCount errors { code } } }"
    ),
    "userApiTokens": Row(
        "query($other: ID!) { userApiTokens(id: $other) { id prefix } }",
        UNAUTH,
        FORBID,
        FORBID,
        OK,
        OK,
    ),
    "revokeUserApiTokens": admin_write(
        "mutation($other: ID!) { revokeUserApiTokens(id: $other) { revokedCount errors { code } } }"
    ),
    "createApiToken": profile_write(
        'mutation { createApiToken(name: "t", scopes: ["profile:read"]) { token errors { code } } }'
    ),
    "revokeApiToken": profile_write(
        'mutation { revokeApiToken(id: "QXBpVG9rZW46MA==") { errors { code } } }'
    ),
    "changePassword": profile_write(
        'mutation { changePassword(currentPassword: "wrong", newPassword: "new password 1A!") '
        "{ errors { code } } }"
    ),
    # Sign-up, verification, password reset, e-mail change (issue 5)
    "signUp": same_for_signed_in(
        'mutation { signUp(input: {username: "joiner", email: "joiner@example.com", '
        'name: "J", password: "long enough pw"}) { status errors { code } } }',
        OK,
    ),
    "verifyEmail": same_for_signed_in(
        'mutation { verifyEmail(token: "sgo_bad") { status errors { code } } }', OK
    ),
    "resendVerificationEmail": same_for_signed_in(
        'mutation { resendVerificationEmail(email: "x@example.com") { errors { code } } }', OK
    ),
    "requestPasswordReset": same_for_signed_in(
        'mutation { requestPasswordReset(email: "x@example.com") { errors { code } } }', OK
    ),
    "resetPassword": same_for_signed_in(
        'mutation { resetPassword(token: "sgo_bad", newPassword: "long new pw 1") '
        "{ errors { code } } }",
        OK,
    ),
    "sendPasswordResetEmail": admin_write(
        "mutation($other: ID!) { sendPasswordResetEmail(id: $other) { errors { code } } }"
    ),
    "requestEmailChange": profile_write(
        'mutation { requestEmailChange(newEmail: "n@example.com", currentPassword: "wrong") '
        "{ errors { code } } }"
    ),
    "confirmEmailChange": profile_write(
        'mutation { confirmEmailChange(token: "sgo_bad") { user { id } errors { code } } }'
    ),
    # MFA (issue 6)
    "completeMfaLogin": same_for_signed_in(
        'mutation { completeMfaLogin(mfaToken: "sgm_bad", code: "000000") { errors { code } } }',
        OK,
    ),
    "setupMfa": profile_write("mutation { setupMfa { secret errors { code } } }"),
    "enableMfa": profile_write('mutation { enableMfa(code: "000000") { errors { code } } }'),
    "disableMfa": profile_write('mutation { disableMfa(code: "000000") { errors { code } } }'),
    "regenerateBackupCodes": profile_write(
        'mutation { regenerateBackupCodes(code: "000000") { errors { code } } }'
    ),
    "resetUserMfa": admin_write(
        "mutation($other: ID!) { resetUserMfa(id: $other) { errors { code } } }"
    ),
    # Photos (issue 7): uploadMyPhoto is a real multipart upload (see Row.files)
    "uploadMyPhoto": replace(
        profile_write(
            "mutation($file: Upload!) { uploadMyPhoto(file: $file) { errors { code } } }"
        ),
        files=("file",),
    ),
    "deleteMyPhoto": profile_write("mutation { deleteMyPhoto { errors { code } } }"),
    "deleteUserPhoto": admin_write(
        "mutation($other: ID!) { deleteUserPhoto(id: $other) { errors { code } } }"
    ),
    # OpenID Connect identity providers and linked identities (issue 17)
    "signInProviders": same_for_signed_in("query { signInProviders { id name iconUrl } }", OK),
    "identityProviders": Row(
        "query { identityProviders { id slug hasClientSecret } }", UNAUTH, FORBID, FORBID, OK, OK
    ),
    "myIdentities": profile_read("query { myIdentities { id subject } }"),
    "userIdentities": Row(
        "query($other: ID!) { userIdentities(id: $other) { id } }", UNAUTH, FORBID, FORBID, OK, OK
    ),
    "createIdentityProvider": admin_write(
        'mutation { createIdentityProvider(input: {slug: "kc", name: "Keycloak", '
        'issuer: "https://sso.example.org/realms/x", clientId: "app", clientSecret: "s"}) '
        "{ identityProvider { id } errors { code } } }"
    ),
    "updateIdentityProvider": admin_write(
        'mutation { updateIdentityProvider(id: "SWRlbnRpdHlQcm92aWRlcjox", input: {name: "X"}) '
        "{ errors { code } } }"
    ),
    "deleteIdentityProvider": admin_write(
        'mutation { deleteIdentityProvider(id: "SWRlbnRpdHlQcm92aWRlcjox") { errors { code } } }'
    ),
    "startExternalLogin": same_for_signed_in(
        'mutation { startExternalLogin(provider: "SWRlbnRpdHlQcm92aWRlcjox", '
        'redirectUri: "https://app.example.org/cb") { authorizationUrl errors { code } } }',
        OK,
    ),
    "finishExternalLogin": same_for_signed_in(
        'mutation { finishExternalLogin(code: "c", state: "s") { accessToken errors { code } } }',
        OK,
    ),
    "startLinkIdentity": profile_write(
        'mutation { startLinkIdentity(provider: "SWRlbnRpdHlQcm92aWRlcjox", '
        'redirectUri: "https://app.example.org/cb") { authorizationUrl errors { code } } }'
    ),
    "finishLinkIdentity": profile_write(
        'mutation { finishLinkIdentity(code: "c", state: "s") { identity { id } errors { code } } }'
    ),
    "unlinkIdentity": profile_write(
        'mutation { unlinkIdentity(id: "SWRlbnRpdHk6MQ==") { errors { code } } }'
    ),
    "removeUserIdentity": admin_write(
        'mutation { removeUserIdentity(id: "SWRlbnRpdHk6MQ==") { errors { code } } }'
    ),
    # Passkeys (issue 16). Both sign-in steps are for anyone; the rest is the owner's
    # (profile scopes) or an administrator's.
    "myPasskeys": profile_read("query { myPasskeys { id name } }"),
    "userPasskeys": Row(
        "query($other: ID!) { userPasskeys(id: $other) { id } }", UNAUTH, FORBID, FORBID, OK, OK
    ),
    "startPasskeyRegistration": profile_write(
        "mutation { startPasskeyRegistration { options errors { code } } }"
    ),
    "finishPasskeyRegistration": profile_write(
        "mutation { finishPasskeyRegistration(credential: {}) { errors { code } } }"
    ),
    "startPasskeyLogin": same_for_signed_in(
        'mutation { startPasskeyLogin(username: "other") { options errors { code } } }', OK
    ),
    "finishPasskeyLogin": same_for_signed_in(
        "mutation { finishPasskeyLogin(credential: {}) { accessToken errors { code } } }", OK
    ),
    "renamePasskey": profile_write(
        'mutation { renamePasskey(id: "UGFzc2tleTow", name: "x") { errors { code } } }'
    ),
    "deletePasskey": profile_write(
        'mutation { deletePasskey(id: "UGFzc2tleTow") { errors { code } } }'
    ),
    "revokeUserPasskeys": admin_write(
        "mutation($other: ID!) { revokeUserPasskeys(id: $other) { revokedCount errors { code } } }"
    ),
    # Security history, notifications and data export (issue 18)
    "mySecurityEvents": profile_read("query { mySecurityEvents { edges { node { type } } } }"),
    "auditEvents": Row(
        "query($other: ID!) { auditEvents(filter: {subject: $other}) { edges { cursor } } }",
        UNAUTH,
        FORBID,
        FORBID,
        OK,
        OK,
    ),
    "myDataExports": profile_read("query { myDataExports { id state } }"),
    "mySecurityNotifications": profile_read(
        "query { mySecurityNotifications { turnedOff optional } }"
    ),
    "requestDataExport": profile_write(
        "mutation { requestDataExport { dataExport { id } errors { code } } }"
    ),
    "updateSecurityNotifications": profile_write(
        "mutation { updateSecurityNotifications(turnedOff: [API_TOKEN]) { errors { code } } }"
    ),
}

# Operations that are not the product's own (federation plumbing), checked elsewhere.
EXEMPT = {"_service", "_entities"}


def schema_operations() -> set[str]:
    schema = build_schema(make_settings("sqlite+aiosqlite://", Path(".")))
    graphql = schema._schema
    names = set(graphql.query_type.fields)
    if graphql.mutation_type is not None:
        names |= set(graphql.mutation_type.fields)
    return names - EXEMPT


def test_every_operation_has_a_row() -> None:
    missing = schema_operations() - set(ROWS)
    extra = set(ROWS) - schema_operations()
    assert not missing, f"operations without a permission row: {sorted(missing)}"
    assert not extra, f"rows for operations the schema lacks: {sorted(extra)}"


def gid(user: Any) -> str:
    return relay.to_base64("User", user.id)


async def _arrange(unit: Any) -> dict[str, Any]:
    """The three users and four credentials of a cell, in one transaction (the matrix has
    hundreds of cells, so one commit each instead of seven matters)."""
    made = {}
    for name, access_type, password in (
        ("regular", AccessType.REGULAR, PASSWORD),
        ("admin", AccessType.ADMIN, "admin password long 1A!"),
        ("other", AccessType.REGULAR, PASSWORD),
    ):
        account = accounts.NewAccount(
            username=name,
            email=f"{name}@example.com",
            name=name.title(),
            password=password,
            access_type=access_type,
            email_verified=True,
        )
        made[name] = await accounts.create_account(unit, account=account)

    async def session_token(user: Any) -> str:
        return (await sessions.create_session(unit, user=user)).access_token  # type: ignore[no-any-return]

    async def api_token(user: Any, scope: str) -> str:
        viewer = Viewer(user=user, scopes=scopes_for(user.access_type), signed_in_at=unit.now())
        issued = await api_tokens.create_api_token(unit, viewer=viewer, name="t", scopes=[scope])
        return issued.token  # type: ignore[no-any-return]

    return {
        "users": made,
        "tokens": {
            "anonymous": None,
            "regular": await session_token(made["regular"]),
            "regular_profile_read": await api_token(made["regular"], PROFILE_READ),
            "admin": await session_token(made["admin"]),
            "admin_users_read": await api_token(made["admin"], USERS_READ),
        },
    }


async def credentials(services: Any) -> dict[str, Any]:
    async with open_unit(services) as unit:
        return await unit.transaction(_arrange)  # type: ignore[no-any-return]


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("operation", sorted(ROWS))
async def test_permission_cell(operation: str, viewer: str, gql: Any, services: Any) -> None:
    row = ROWS[operation]
    expected = getattr(row, viewer)
    setup = await credentials(services)
    users = setup["users"]
    own = users["admin"] if viewer.startswith("admin") else users["regular"]
    variables = {"self": gid(own), "other": gid(users["other"]), "admin": gid(users["admin"])}
    used = {k: v for k, v in variables.items() if f"${k}" in row.document}
    token = setup["tokens"][viewer]
    if row.files:
        files = {name: ("photo.png", png((8, 8)), "image/png") for name in row.files}
        body = (await gql.upload(row.document, used, files, token=token)).json()
    else:
        body = await gql.execute(row.document, used, token=token)
    codes = [
        (e.get("extensions") or {}).get("code")
        for e in body.get("errors") or []
        if e.get("path") in (None, [operation]) or (e.get("path") or [None])[0] == operation
    ]
    auth_codes = [c for c in codes if c in (UNAUTH, FORBID)]
    if expected == OK:
        # No error at all: an auth refusal, an internal error, or a document that does not
        # validate (a typo would otherwise pass as OK) all fail the cell.
        assert not codes, body
        assert (body.get("data") or {}).get(operation) is not None, body
    else:
        assert auth_codes[:1] == [expected], body
        assert (body.get("data") or {}).get(operation) is None, body
