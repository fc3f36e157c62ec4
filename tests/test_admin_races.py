"""Concurrency: the last two active admins demoting, deactivating and deleting each other at
the same moment always leave one; concurrent creates of one username or e-mail give exactly
one account and USERNAME_TAKEN / EMAIL_TAKEN for the rest, never an internal error."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from stridegraph.db.enums import AccessType
from stridegraph.db.models import User
from tests.helpers import login_token, make_user
from tests.users_support import gid

ROUNDS = 20
ADMIN_PASSWORD = "admin password long 1A!"
DEMOTE = """mutation($id: ID!) { updateUser(id: $id, input: {accessType: REGULAR})
  { errors { code } } }"""
DEACTIVATE = """mutation($id: ID!) { updateUser(id: $id, input: {active: false})
  { errors { code } } }"""
DELETE = "mutation($id: ID!) { deleteUser(id: $id) { errors { code } } }"
DELETE_ME = "mutation($p: String!) { deleteMe(password: $p) { errors { code } } }"
# (what the first admin does to the second, what the second does to the first)
PAIRS = [(DEMOTE, DELETE), (DELETE, DELETE), (DEMOTE, DEMOTE), (DEACTIVATE, DELETE)]


async def active_admins(db: Any) -> list[int]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(User.id).where(User.access_type == AccessType.ADMIN, User.active.is_(True))
        )
        return [r[0] for r in rows]


def outcome(body: dict[str, Any], operation: str) -> str:
    """OK, a payload error code, or a top-level error code."""
    if body.get("errors"):
        return body["errors"][0]["extensions"]["code"]
    errors = body["data"][operation]["errors"]
    return errors[0]["code"] if errors else "OK"


async def test_the_last_two_admins_racing_always_leave_one(gql, services, db):
    survivor = await make_user(services, "admin0", admin=True, password=ADMIN_PASSWORD)
    seen: set[tuple[str, str]] = set()
    for round_ in range(ROUNDS):
        newcomer = await make_user(
            services, f"admin{round_ + 1}", admin=True, password=ADMIN_PASSWORD
        )
        assert len(await active_admins(db)) == 2
        first_op, second_op = PAIRS[round_ % len(PAIRS)]
        a, b = (survivor, newcomer) if round_ % 2 else (newcomer, survivor)
        token_a, token_b = await login_token(services, a), await login_token(services, b)
        if round_ % 5 == 4:  # sometimes both try to leave by themselves
            requests = [
                gql.execute(DELETE_ME, {"p": ADMIN_PASSWORD}, token=token)
                for token in (token_a, token_b)
            ]
            names = ["deleteMe", "deleteMe"]
        else:
            requests = [
                gql.execute(first_op, {"id": gid(b)}, token=token_a),
                gql.execute(second_op, {"id": gid(a)}, token=token_b),
            ]
            names = ["deleteUser" if op == DELETE else "updateUser" for op in (first_op, second_op)]
        bodies = await asyncio.gather(*requests)
        results = [outcome(body, name) for body, name in zip(bodies, names, strict=True)]
        seen.add(tuple(sorted(results)))  # type: ignore[arg-type]
        admins = await active_admins(db)
        assert len(admins) == 1, (round_, results, bodies, admins)
        assert results.count("OK") == 1, (round_, results, bodies)
        refusal = next(r for r in results if r != "OK")
        assert refusal in ("LAST_ADMIN", "FORBIDDEN", "UNAUTHENTICATED"), bodies
        survivor = a if admins == [a.id] else b
    # the lock makes the loser wait and then see the winner's commit: LAST_ADMIN, or FORBIDDEN
    # when it was the loser who lost admin rights first
    assert any("LAST_ADMIN" in pair for pair in seen), seen


async def concurrent_creates(gql: Any, token: str, inputs: list[dict[str, str]]) -> list[str]:
    query = (
        "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } errors { code } } }"
    )
    bodies = await asyncio.gather(*(gql.execute(query, {"i": i}, token=token) for i in inputs))
    return [outcome(body, "createUser") for body in bodies]


async def count_users(db: Any, **where: str) -> int:
    async with db.engine.connect() as conn:
        query = select(func.count()).select_from(User)
        for column, value in where.items():
            query = query.where(func.lower(getattr(User, column)) == value.lower())
        return int(await conn.scalar(query) or 0)


async def test_concurrent_creates_of_one_username_or_email(gql, services, db):
    admin = await make_user(services, "root", admin=True, password=ADMIN_PASSWORD)
    token = await login_token(services, admin)
    for round_ in range(3):
        same_name = [
            {
                "username": f"Twin{round_}" if i % 2 else f"twin{round_}",
                "name": "Twin",
                "email": f"twin{round_}.{i}@example.com",
                "password": "a fine password",
            }
            for i in range(6)
        ]
        results = await concurrent_creates(gql, token, same_name)
        assert sorted(results) == ["OK"] + ["USERNAME_TAKEN"] * 5, results
        assert await count_users(db, username=f"twin{round_}") == 1
        same_email = [
            {
                "username": f"mail{round_}x{i}",
                "name": "Mail",
                "email": f"Shared{round_}@Example.com" if i % 2 else f"shared{round_}@example.com",
                "password": "a fine password",
            }
            for i in range(6)
        ]
        results = await concurrent_creates(gql, token, same_email)
        assert sorted(results) == ["EMAIL_TAKEN"] * 5 + ["OK"], results
        assert await count_users(db, email=f"shared{round_}@example.com") == 1
