"""Passwords: argon2id off the event loop, the policy from server settings, and hashes made
with older parameters recognised (and replaced) for rehash."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import bcrypt
import pytest
from argon2 import PasswordHasher, Type

from stridegraph.db.enums import AccessType, PasswordPolicy
from stridegraph.domain.errors import DomainError
from stridegraph.domain.passwords import (
    HashSlots,
    PasswordService,
    check_password_policy,
    importable_hash,
)
from tests.conftest import make_settings


@pytest.fixture
def service(tmp_path: Path):
    passwords = PasswordService(make_settings("sqlite+aiosqlite://", tmp_path))
    yield passwords
    passwords.close()


async def test_hashes_are_argon2id_and_made_off_the_event_loop(service):
    threads: list[str] = []

    class RecordingHasher(PasswordHasher):
        """argon2-cffi's hasher with the same parameters, noting the thread it runs on."""

        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            threads.append(threading.current_thread().name)
            return super().hash(password, salt=salt)

    base = service._hasher
    service._hasher = RecordingHasher(
        time_cost=base.time_cost,
        memory_cost=base.memory_cost,
        parallelism=base.parallelism,
        type=base.type,
    )
    digest = await service.hash("a fine password")
    assert digest.startswith("$argon2id$")
    assert threads and threads[0].startswith("argon2")
    assert threads[0] != threading.current_thread().name
    assert await service.verify(digest, "a fine password")
    assert not await service.verify(digest, "a wrong password")
    assert not await service.verify(None, "anything")  # still costs a verification


async def test_concurrent_hashes_all_complete(service):
    digests = await asyncio.gather(*(service.hash(f"password {i}") for i in range(8)))
    assert len(set(digests)) == 8
    assert all(
        await asyncio.gather(*(service.verify(d, f"password {i}") for i, d in enumerate(digests)))
    )


def test_a_hash_with_older_parameters_needs_a_rehash(service):
    current = service._hasher.hash("pw")
    assert service.needs_rehash(current) is False
    older = [
        PasswordHasher(time_cost=1, memory_cost=512, parallelism=1, type=Type.ID).hash("pw"),
        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.I).hash("pw"),
        PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1, type=Type.ID).hash("pw"),
    ]
    for digest in older:
        assert service.needs_rehash(digest) is True, digest
    assert service.needs_rehash("not a hash") is True


async def test_bcrypt_hashes_verify_and_always_need_a_rehash(service):
    """Imported accounts (FitTrackee, Endurain) keep their bcrypt hash until they sign in."""
    digest = bcrypt.hashpw(b"secret words", bcrypt.gensalt(4)).decode()
    assert await service.verify(digest, "secret words")
    assert not await service.verify(digest, "wrong words")
    assert await service.verify("$2a$" + digest[4:], "secret words")
    assert service.needs_rehash(digest) is True
    long = "x" * 100  # the hashers that made them read only the first 72 bytes
    assert await service.verify(bcrypt.hashpw(b"x" * 72, bcrypt.gensalt(4)).decode(), long)
    assert not await service.verify("$2b$04$" + "!" * 53, "secret words")  # malformed


def test_importable_hashes_are_argon2_or_bcrypt_within_bounds():
    assert importable_hash(bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode())
    assert importable_hash(PasswordHasher(type=Type.I, memory_cost=2048).hash("pw"))
    assert importable_hash(PasswordHasher(type=Type.D, memory_cost=2048).hash("pw"))
    assert importable_hash(PasswordHasher().hash("pw"))
    for refused in (
        "hunter2",
        "5f4dcc3b5aa765d61d8327deb882cf99",
        "$2b$31$" + "a" * 53,  # costs hours per check
        "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$pbkdf2-sha256$29000$abc$def",
    ):
        assert not importable_hash(refused), refused


def policy(password: str, **kw: object) -> list[tuple[str, str | None]]:
    options: dict[str, object] = {
        "access_type": AccessType.REGULAR,
        "policy": PasswordPolicy.LENGTH_ONLY,
        "min_length_regular": 8,
        "min_length_admin": 12,
        "username": "alice",
        "email": "alice@example.com",
    }
    options.update(kw)
    try:
        check_password_policy(password, **options)  # type: ignore[arg-type]
    except DomainError as exc:
        return [(p.code.value, p.field) for p in exc.problems]
    return []


def test_policy_lengths_by_role():
    assert policy("1234567") == [("TOO_SHORT", "password")]
    assert policy("12345678") == []
    assert policy("12345678901", access_type=AccessType.ADMIN) == [("TOO_SHORT", "password")]
    assert policy("123456789012", access_type=AccessType.ADMIN) == []
    assert policy("1234567890", min_length_regular=10) == []
    assert policy("x" * 1025) == [("TOO_LONG", "password")]


def test_strict_policy_needs_every_character_class():
    strict = {"policy": PasswordPolicy.STRICT}
    assert policy("Abcdef1!", **strict) == []
    for weak in ("abcdef1!", "ABCDEF1!", "Abcdefg!", "Abcdefg1"):
        assert policy(weak, **strict) == [("PASSWORD_TOO_WEAK", "password")], weak
    assert policy("abcdefgh") == []  # LENGTH_ONLY does not care


def test_never_equal_to_username_or_email():
    assert policy("ALICE.long", username="alice.LONG") == [("PASSWORD_TOO_WEAK", "password")]
    assert policy("Alice@Example.com") == [("PASSWORD_TOO_WEAK", "password")]
    assert policy("alice", field="new_password") == [
        ("TOO_SHORT", "new_password"),
        ("PASSWORD_TOO_WEAK", "new_password"),
    ]


# --------------------------------------------------------------------------- priorities


async def test_new_passwords_leave_a_slot_and_logins_go_first() -> None:
    """Sign-ups (not urgent) hold at most N-1 of N slots; a freed slot goes to a waiting
    login before any waiting sign-up."""
    slots = HashSlots(2)
    order: list[str] = []
    release: dict[str, asyncio.Event] = {}

    async def work(name: str, *, urgent: bool) -> None:
        release[name] = asyncio.Event()
        async with slots.slot(urgent=urgent):
            order.append(name)
            await release[name].wait()

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(work(f"signup{i}", urgent=False)) for i in range(3)]
    await settle()
    assert order == ["signup0"]  # one slot stays free for logins
    tasks.append(asyncio.create_task(work("login0", urgent=True)))
    await settle()
    assert order == ["signup0", "login0"]
    tasks.append(asyncio.create_task(work("login1", urgent=True)))
    await settle()
    release["signup0"].set()
    await settle()
    assert order == ["signup0", "login0", "login1"]  # the freed slot went to the login
    release["login0"].set()
    await settle()
    assert order[-1] == "signup1" and slots.busy == 2 and slots.busy_background == 1
    for event in release.values():
        event.set()
    await asyncio.gather(*tasks)
    assert order == ["signup0", "login0", "login1", "signup1", "signup2"]
    assert slots.busy == 0 and slots.busy_background == 0


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    slots = HashSlots(1)
    held = asyncio.Event()

    async def hold() -> None:
        async with slots.slot(urgent=True):
            await held.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(slots.slot(urgent=False).__aenter__())
    await asyncio.sleep(0)
    waiter.cancel()
    held.set()
    await holder
    async with slots.slot(urgent=False):
        assert slots.busy == 1
    assert slots.busy == 0
