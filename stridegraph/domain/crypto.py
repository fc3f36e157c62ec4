"""Encryption at rest for MFA secrets: MultiFernet over the ENCRYPTION_KEY list.

The first key encrypts; every key decrypts, so keys can be rotated by prepending a new one.
Each configured key string is stretched to a Fernet key with HKDF, so operators may give any
long random string.

``cryptography`` (its OpenSSL bindings: about 7 MB of a worker's memory) is imported when a
secret is first encrypted or decrypted, not at start-up: most requests never touch an MFA
secret. (Memory, not an import cycle.)
"""

from __future__ import annotations

import base64
import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.fernet import Fernet, MultiFernet


def _fernet(key: str) -> Fernet:
    # on first use, for memory (see the module note)
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"stridegraph-mfa").derive(
        key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(raw))


class SecretCipher:
    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._keys = keys

    @functools.cached_property
    def _fernets(self) -> list[Fernet]:
        return [_fernet(k) for k in self._keys]

    @property
    def _current(self) -> Fernet:
        return self._fernets[0]

    @functools.cached_property
    def _multi(self) -> MultiFernet:
        from cryptography.fernet import MultiFernet  # on first use, for memory (module note)

        return MultiFernet(self._fernets)

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """Raises ValueError when no configured key can decrypt it."""
        try:
            return self._multi.decrypt(ciphertext.encode()).decode()
        except _invalid_token():
            raise ValueError("cannot decrypt with any configured key") from None

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the first key (raises ValueError when no key can decrypt it)."""
        try:
            return self._multi.rotate(ciphertext.encode()).decode()
        except _invalid_token():
            raise ValueError("cannot decrypt with any configured key") from None

    def is_current(self, ciphertext: str) -> bool:
        """Whether the first (encrypting) key reads it, i.e. a rotation would change nothing
        but the nonce. Lets a re-encryption pass skip what is already up to date."""
        try:
            self._current.decrypt(ciphertext.encode())
        except _invalid_token():
            return False
        return True


def _invalid_token() -> type[Exception]:
    from cryptography.fernet import InvalidToken  # loaded already by the call that raised

    return InvalidToken
