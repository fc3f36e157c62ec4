"""Encryption at rest for MFA secrets: MultiFernet over the ENCRYPTION_KEY list.

The first key encrypts; every key decrypts, so keys can be rotated by prepending a new one.
Each configured key string is stretched to a Fernet key with HKDF, so operators may give any
long random string.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _fernet(key: str) -> Fernet:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"stridegraph-mfa").derive(
        key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(raw))


class SecretCipher:
    def __init__(self, keys: tuple[str, ...]) -> None:
        fernets = [_fernet(k) for k in keys]
        self._current = fernets[0]
        self._multi = MultiFernet(fernets)

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """Raises ValueError when no configured key can decrypt it."""
        try:
            return self._multi.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError("cannot decrypt with any configured key") from None

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the first key (raises ValueError when no key can decrypt it)."""
        try:
            return self._multi.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError("cannot decrypt with any configured key") from None

    def is_current(self, ciphertext: str) -> bool:
        """Whether the first (encrypting) key reads it, i.e. a rotation would change nothing
        but the nonce. Lets a re-encryption pass skip what is already up to date."""
        try:
            self._current.decrypt(ciphertext.encode())
        except InvalidToken:
            return False
        return True
