"""Only what is needed is read (issue 12 point 4): the viewer lookup, on every request,
never reads the password hash or the MFA secret; those two columns are deferred and refuse
to load implicitly, so only the operations that check them read them (``db/secrets.py``)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError

from stridegraph.db.models import User
from stridegraph.domain import tokens
from stridegraph.domain.unit import open_unit
from stridegraph.domain.viewer import resolve_bearer
from tests.helpers import PASSWORD, login_token, make_user, scoped_token

ME = "query { me { id username email mfaEnabled } }"
LOGIN = """mutation($u: String!, $p: String!) {
  login(username: $u, password: $p) { accessToken errors { code } }
}"""
SECRETS = ("password_hash", "mfa_secret")


def secret_columns(statements: list[str]) -> list[str]:
    return [s for s in statements if any(column in s.lower() for column in SECRETS)]


async def test_the_viewer_lookup_reads_no_secret(gql, services, sql_counter):
    user = await make_user(services, "sid")
    session_token = await login_token(services, user)
    api_token = await scoped_token(services, user, ["profile:read"])
    for token in (session_token, api_token):
        sql_counter.reset()
        await gql.data(ME, token=token)
        assert sql_counter.count == 1, sql_counter.statements
        assert "users" in sql_counter.statements[0]
        assert secret_columns(sql_counter.statements) == [], sql_counter.statements
        # nor the credential's own token hashes
        assert "token_hash" not in sql_counter.statements[0].split("WHERE")[0]


async def test_login_still_reads_the_hash_and_works(gql, services, sql_counter):
    await make_user(services, "sal")
    sql_counter.reset()
    body = await gql.data(LOGIN, {"u": "sal", "p": PASSWORD})
    assert body["login"]["accessToken"].startswith(tokens.ACCESS)
    assert any("password_hash" in s for s in secret_columns(sql_counter.statements))
    assert not any("mfa_secret" in s.lower() for s in sql_counter.statements)


async def test_secrets_never_load_implicitly(services):
    user = await make_user(services, "sue")
    token = await login_token(services, user)
    async with open_unit(services) as unit:
        viewer = await resolve_bearer(unit, token=token)
        with pytest.raises(InvalidRequestError):
            _ = viewer.user.password_hash
        with pytest.raises(InvalidRequestError):
            _ = viewer.user.mfa_secret
        loaded = await unit.session.scalar(select(User).where(User.id == user.id))
        assert loaded is not None
        with pytest.raises(InvalidRequestError):
            _ = loaded.password_hash
