"""``stridegraph import-users FILE``: accounts from another tracker with their password
hashes (bcrypt as FitTrackee's flask-bcrypt makes them, argon2 with other parameters, the
pwdlib hashes Endurain makes), verified at first login and rehashed to the current
argon2id; all or nothing per file, a dry run, a report, no duplicates on a second run.
Both databases; the hashes are made by the real ``bcrypt``, ``argon2-cffi`` and ``pwdlib``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import bcrypt
from argon2 import PasswordHasher, Type
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy import func, select

from stridegraph.db.models import User
from stridegraph.domain.account_import import import_file
from tests.conftest import server_env
from tests.mail_fixtures import read_user
from tests.test_config import run_cli
from tests.users_support import snapshot

LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken user { username } errors { code } } }"""
LONG = "fitness " * 12  # 96 bytes: bcrypt reads only the first 72


def row(username: str, password_hash: str, **extra: Any) -> dict[str, Any]:
    return {
        "username": username,
        "email": f"{username}@example.com",
        "name": username.title(),
        "password_hash": password_hash,
        **extra,
    }


def hashes() -> dict[str, tuple[str, str]]:
    """username -> (password, hash made elsewhere)."""
    return {
        "fittrackee": ("pass word 1", bcrypt.hashpw(b"pass word 1", bcrypt.gensalt(4)).decode()),
        "old2a": ("pass word 2", bcrypt.hashpw(b"pass word 2", bcrypt.gensalt(4, b"2a")).decode()),
        "long": (LONG, bcrypt.hashpw(LONG.encode()[:72], bcrypt.gensalt(4)).decode()),
        "argon2i": (
            "pass word 3",
            PasswordHasher(time_cost=2, memory_cost=2048, parallelism=2, type=Type.I).hash(
                "pass word 3"
            ),
        ),
        "endurain": (
            "pass word 4",
            Argon2Hasher(time_cost=1, memory_cost=4096, parallelism=1).hash("pass word 4"),
        ),
        "endurainbc": ("pass word 5", BcryptHasher(rounds=4).hash("pass word 5")),
    }


def lines(rows: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(r) for r in rows]


async def count(db: Any) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(User))).scalar_one())


async def login(gql: Any, username: str, password: str) -> dict[str, Any]:
    return (await gql.data(LOGIN, {"u": username, "p": password}))["login"]  # type: ignore[no-any-return]


async def test_imported_hashes_sign_in_once_then_are_argon2id(gql, services, db):
    made = hashes()
    report = await import_file(
        services, lines=lines([row(u, h) for u, (_, h) in made.items()]), dry_run=False
    )
    assert report.refused == [] and sorted(report.created) == sorted(made)
    for username, (password, original) in made.items():
        stored = await read_user(db, username)
        assert stored is not None and stored.password_hash == original
        wrong = await login(gql, username, "x" + password)
        assert wrong["errors"] == [{"code": "INVALID_CREDENTIALS"}], username
        assert (await read_user(db, username)).password_hash == original
        right = await login(gql, username, password)
        assert right["errors"] == [] and right["accessToken"], username
        rehashed = (await read_user(db, username)).password_hash
        assert rehashed.startswith("$argon2id$") and "m=1024,t=1,p=1" in rehashed, username
        assert not services.passwords.needs_rehash(rehashed)
        assert (await login(gql, username, password))["errors"] == []
        assert (await read_user(db, username)).password_hash == rehashed


async def test_profile_fields_and_created_at_are_kept(services, db):
    _, digest = hashes()["fittrackee"]
    extra = {
        "city": "Porto",
        "birthdate": "1985-06-30",
        "preferred_language": "pt",
        "gender": "FEMALE",
        "units": "imperial",
        "height": 180,
        "max_heart_rate": 185,
        "first_day_of_week": "monday",
        "currency": "euro",
        "created_at": "2019-03-04T05:06:07",
    }
    report = await import_file(services, lines=lines([row("ana", digest, **extra)]), dry_run=False)
    assert report.refused == []
    user = await read_user(db, "ana")
    assert (user.city, user.birthdate, user.height, user.max_heart_rate) == (
        "Porto",
        dt.date(1985, 6, 30),
        180,
        185,
    )
    assert [m.name for m in (user.preferred_language, user.gender, user.units)] == [
        "PT",
        "FEMALE",
        "IMPERIAL",
    ]
    assert [m.name for m in (user.first_day_of_week, user.currency)] == ["MONDAY", "EURO"]
    assert user.created_at == dt.datetime(2019, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    assert user.active and user.email_verified and not user.pending_admin_approval


async def test_one_refused_row_imports_nothing_and_says_why(services, db):
    _, digest = hashes()["fittrackee"]
    rows = [
        row("good", digest),
        row("plain", "hunter2"),  # a plain password, not a hash
        row("md5", "5f4dcc3b5aa765d61d8327deb882cf99"),
        row("range", digest, height=0),
        row("bad/name", digest),
        {**row("extra", digest), "is_admin": True},
        {"username": "nohash", "email": "n@example.com", "name": "N"},
        row("costly", "$2b$31$" + "a" * 53),
        row("future", digest, created_at="2999-01-01T00:00:00+00:00"),
        {**row("GOOD", digest), "email": "else@example.com"},  # line 1's name, another case
    ]
    text = [*lines(rows[:3]), "not json", "[1, 2]", *lines(rows[3:])]
    before = await snapshot(db)
    report = await import_file(services, lines=text, dry_run=False)
    assert not report.written
    assert await snapshot(db) == before
    refused = {r.line: (r.username, r.reasons) for r in report.refused}
    assert sorted(refused) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert "argon2 or bcrypt" in refused[2][1][0] and "argon2 or bcrypt" in refused[3][1][0]
    assert refused[4] == (None, ("not a JSON object",)) and refused[5][1] == ("not a JSON object",)
    assert refused[6][0] == "range" and "height" in refused[6][1][0]
    assert refused[7][0] == "bad/name" and refused[7][1][0].startswith("username:")
    assert refused[8] == ("extra", ("unknown field 'is_admin'",))
    assert refused[9] == ("nohash", ("password_hash is required",))
    assert "argon2 or bcrypt" in refused[10][1][0]
    assert refused[11] == ("future", ("created_at is in the future",))
    assert refused[12][0] == "GOOD" and refused[12][1][0].startswith("username:")


async def test_a_dry_run_writes_nothing_and_a_second_run_no_duplicates(services, db):
    made = hashes()
    text = lines([row(u, h) for u, (_, h) in made.items()])
    before = await snapshot(db)
    dry = await import_file(services, lines=text, dry_run=True)
    assert dry.refused == [] and len(dry.created) == len(made) and not dry.written
    assert await snapshot(db) == before
    first = await import_file(services, lines=text, dry_run=False)
    assert first.written and len(first.created) == len(made)
    after_first = await snapshot(db)
    second = await import_file(services, lines=text, dry_run=False)
    assert second.created == [] and sorted(second.already_present) == sorted(made)
    assert await snapshot(db) == after_first
    # the same username with another address is another person: refused, nothing written
    clash = await import_file(
        services,
        lines=lines(
            [
                row("newone", made["long"][1]),
                {**row("long", made["long"][1]), "email": "other@example.com"},
            ]
        ),
        dry_run=False,
    )
    assert [r.line for r in clash.refused] == [2]
    assert await snapshot(db) == after_first


def test_the_command_reports_and_exits_1_on_refusals(settings: Any, tmp_path: Path, db) -> None:
    """The real command, on both databases."""
    env = server_env(settings)
    _, digest = hashes()["fittrackee"]
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(lines([row("one", digest), row("two", digest)])) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines([row("three", digest), row("four", "nope")])) + "\n")
    migrated = run_cli("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr

    refused = run_cli("import-users", str(bad), env=env)
    assert refused.returncode == 1, refused.stderr
    assert "line 2 (four): refused: password_hash" in refused.stdout
    assert "nothing imported: 1 row(s) refused" in refused.stdout
    dry = run_cli("import-users", "--dry-run", str(good), env=env)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: would create 2 account(s), 0 already present" in dry.stdout
    done = run_cli("import-users", str(good), env=env)
    assert done.returncode == 0 and "created 2 account(s)" in done.stdout, done.stderr
    again = run_cli("import-users", "-", env=env, stdin=good.read_text())
    assert again.returncode == 0 and "created 0 account(s), 2 already present" in again.stdout
    assert digest not in refused.stdout + refused.stderr + done.stdout + done.stderr
    missing = run_cli("import-users", str(tmp_path / "absent.jsonl"), env=env)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
