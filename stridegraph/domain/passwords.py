"""Password hashing (argon2id) and the password policy.

argon2 with its defaults costs ~135 ms and two CPU threads per hash. Hashing runs on a
dedicated small thread pool whose size (``HASH_CONCURRENCY``) bounds concurrent hashes per
worker, so a burst queues here instead of starving the event loop and the default executor
that other requests use.

Who goes first: checking a password someone is signing in with (``verify``, and the rehash
right after it) is *urgent*; hashing a new password (sign-up, reset, change, admin) is not.
Work that is not urgent may hold at most N-1 of the N slots (all of them when N is 1), and a
freed slot goes to waiting urgent work first. So a flood of sign-ups, however long its
queue, leaves a slot for logins: a login waits for at most the hashes already running in
its own slot's share, never for the queue of new accounts behind them (bench/signup_flood.py).
A priority queue alone would not do: with every slot busy hashing new passwords, a login
would still wait for a whole hash to finish.
"""

from __future__ import annotations

import asyncio
import collections
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from stridegraph.config import Settings
from stridegraph.db.enums import AccessType, PasswordPolicy
from stridegraph.domain.errors import Collector, ErrorCode

MAX_PASSWORD_LENGTH = 1024
#: bcrypt as FitTrackee (flask-bcrypt) and pwdlib's BcryptHasher (Endurain) store it.
BCRYPT_HASH = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
#: bcrypt reads at most this many bytes of a password; the hashers that made the imported
#: hashes cut longer ones silently, so checking one must cut it the same way.
BCRYPT_MAX_BYTES = 72
#: Bounds on an imported hash's cost: checking it is work any anonymous login can trigger,
#: so a hash no tracker would make (minutes of CPU, gigabytes of memory) is refused at import.
MAX_IMPORTED_BCRYPT_COST = 16
MAX_IMPORTED_ARGON2_MEMORY_KIB = 1024 * 1024
MAX_IMPORTED_ARGON2_TIME_COST = 20
MAX_IMPORTED_ARGON2_PARALLELISM = 64
T = TypeVar("T")


class HashSlots:
    """``size`` slots for argon2 work; work that is not urgent may hold at most
    ``size - 1`` of them (``size`` when there is one), and urgent waiters are served first.

    Waiters are futures in two FIFO queues; a releasing holder hands its slot on directly,
    so nobody can overtake a woken waiter."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.background_cap = max(1, size - 1)
        self.busy = 0
        self.busy_background = 0
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._background: collections.deque[asyncio.Future[None]] = collections.deque()

    def _can_start(self, urgent: bool) -> bool:
        if self.busy >= self.size:
            return False
        return urgent or (self.busy_background < self.background_cap and not self._urgent)

    def _take(self, urgent: bool) -> None:
        self.busy += 1
        if not urgent:
            self.busy_background += 1

    def _wake(self) -> None:
        for urgent, queue in ((True, self._urgent), (False, self._background)):
            while queue and self._can_start(urgent):
                waiter = queue.popleft()
                if not waiter.done():
                    self._take(urgent)
                    waiter.set_result(None)

    @asynccontextmanager
    async def slot(self, *, urgent: bool) -> AsyncIterator[None]:
        queue = self._urgent if urgent else self._background
        if not queue and self._can_start(urgent):  # nobody of its kind is ahead
            self._take(urgent)
        else:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            queue.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._release(urgent)  # woken, then cancelled: pass the slot on
                raise
        try:
            yield
        finally:
            self._release(urgent)

    def _release(self, urgent: bool) -> None:
        self.busy -= 1
        if not urgent:
            self.busy_background -= 1
        self._wake()


class PasswordService:
    """Hash and verify off the event loop, at most ``hash_concurrency`` at a time, logins
    first (see the module docstring)."""

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
        self._slots = HashSlots(settings.hash_concurrency)
        self._dummy_hash = self._hasher.hash("stridegraph-dummy-password")

    async def _run(self, urgent: bool, fn: Callable[..., T], *args: object) -> T:
        async with self._slots.slot(urgent=urgent):
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def hash(self, password: str, *, urgent: bool = False) -> str:
        """Hash a password. ``urgent`` only for a sign-in in progress (rehashing a
        just-verified password); new passwords wait behind logins."""
        return await self._run(urgent, self._hasher.hash, password)

    def _verify_sync(self, password_hash: str | None, password: str) -> bool:
        if password_hash is not None and BCRYPT_HASH.fullmatch(password_hash):
            return _bcrypt_matches(password_hash, password)
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches. A missing hash (unknown user, or an account with
        no password yet) still costs one full verification, so timing tells nothing.
        Always urgent: someone is waiting to sign in or to prove who they are."""
        return await self._run(True, self._verify_sync, password_hash, password)

    async def verify_admitted(
        self, password_hash: str | None, password: str, *, admit: Callable[[], Awaitable[T]]
    ) -> tuple[T, bool]:
        """``verify``, with ``admit()`` awaited once this check holds its hashing slot and
        before any hashing: a rate limiter counts there, so requests still queued for a slot
        are not yet attempts (a burst of correct logins is slowed by the queue, not refused),
        while the checks that do run see each other. If ``admit`` raises, nothing is hashed."""
        async with self._slots.slot(urgent=True):
            admitted = await admit()
            matches = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._verify_sync, password_hash, password
            )
            return admitted, matches

    def needs_rehash(self, password_hash: str) -> bool:
        """True for anything but an argon2id hash with the current parameters (older
        parameters, other argon2 variants, imported bcrypt), so the next successful sign-in
        stores a current hash."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _bcrypt_matches(password_hash: str, password: str) -> bool:
    import bcrypt  # on first use: only imported accounts (import-users) have such hashes

    try:
        return bcrypt.checkpw(
            password.encode("utf-8")[:BCRYPT_MAX_BYTES], password_hash.encode("ascii")
        )
    except ValueError:  # a malformed salt or cost
        return False


def importable_hash(password_hash: str) -> bool:
    """Whether a password hash brought from another tracker can be checked here: argon2
    (any variant and parameters, as argon2-cffi and pwdlib write them) or bcrypt
    (``$2a$``/``$2b$``/``$2y$``, as flask-bcrypt and pwdlib write them). Such a hash is
    replaced by a current argon2id one at the account's next sign-in (``needs_rehash``)."""
    if BCRYPT_HASH.fullmatch(password_hash):
        return 4 <= int(password_hash[4:6]) <= MAX_IMPORTED_BCRYPT_COST
    try:
        found = extract_parameters(password_hash)
    except InvalidHashError:
        return False
    return (
        found.memory_cost <= MAX_IMPORTED_ARGON2_MEMORY_KIB
        and found.time_cost <= MAX_IMPORTED_ARGON2_TIME_COST
        and found.parallelism <= MAX_IMPORTED_ARGON2_PARALLELISM
    )


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
