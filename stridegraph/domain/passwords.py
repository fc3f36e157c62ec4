"""Password hashing (argon2id) and the password policy.

argon2 with its defaults costs ~135 ms and two CPU threads per hash. Hashing runs on a
dedicated small thread pool whose size bounds concurrent hashes, so a burst of logins queues
here instead of starving the event loop and the default executor that other requests use.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from stridegraph.config import Settings
from stridegraph.db.enums import AccessType, PasswordPolicy
from stridegraph.domain.errors import Collector, ErrorCode

if TYPE_CHECKING:
    from stridegraph.db.models import User
    from stridegraph.domain.unit import Services

MAX_PASSWORD_LENGTH = 1024


class PasswordService:
    """Hash and verify off the event loop, at most ``hash_concurrency`` at a time."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=settings.hash_concurrency, thread_name_prefix="argon2"
        )
        self._dummy_hash = self._hasher.hash("stridegraph-dummy-password")

    async def _run(self, fn, *args):  # type: ignore[no-untyped-def]
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    def _verify_sync(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches. A missing hash (unknown user, or an account with
        no password yet) still costs one full verification, so timing tells nothing."""
        return await self._run(self._verify_sync, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def check_password_policy(
    password: str,
    *,
    access_type: AccessType,
    policy: PasswordPolicy,
    min_length_regular: int,
    min_length_admin: int,
    username: str | None,
    email: str | None,
    field: str = "password",
) -> None:
    """Raise a DomainError (PASSWORD_TOO_WEAK / TOO_SHORT / TOO_LONG) if the password is
    unacceptable for an account of ``access_type`` under the server's policy."""
    errors = Collector()
    minimum = min_length_admin if access_type is AccessType.ADMIN else min_length_regular
    if len(password) < minimum:
        errors.add(
            ErrorCode.TOO_SHORT, f"The password must have at least {minimum} characters.", field
        )
    elif len(password) > MAX_PASSWORD_LENGTH:
        errors.add(
            ErrorCode.TOO_LONG,
            f"The password may have at most {MAX_PASSWORD_LENGTH} characters.",
            field,
        )
    elif policy is PasswordPolicy.STRICT and not all(
        re.search(pattern, password) for pattern in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]")
    ):
        errors.add(
            ErrorCode.PASSWORD_TOO_WEAK,
            "The password needs an upper-case letter, a lower-case letter, a digit and a symbol.",
            field,
        )
    lowered = password.casefold()
    if (username and lowered == username.casefold()) or (email and lowered == email.casefold()):
        errors.add(
            ErrorCode.PASSWORD_TOO_WEAK,
            "The password must not equal the username or e-mail.",
            field,
        )
    errors.raise_if_any()


async def verify_and_upgrade(services: Services, user: User, password: str) -> bool:
    """Check ``user``'s password; when it matches but was hashed with older argon2
    parameters, store a fresh hash (argon2 only lets us do this while we hold the password).
    The caller's transaction persists the new hash."""
    passwords = services.passwords
    if not await passwords.verify(user.password_hash, password):
        return False
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(password)
    return True
