"""A software WebAuthn authenticator (and the client around it) for the passkey tests.

It makes what a browser and an authenticator make: EC P-256 keys (``cryptography``), the
authenticator data, a CBOR attestation object (``cbor2``) with ``none`` or ``packed``
self-attestation, and signed assertions, all from the options the server returned. Each
knob a test needs (origin, RP id, user verification, the signature counter) is an argument,
so a test can produce exactly the response a misbehaving client or a cloned key would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
TEST_AAGUID = bytes.fromhex("0123456789abcdef0123456789abcdef")


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftAuthenticator:
    """One authenticator holding discoverable credentials, reached from ``origin``."""

    origin: str = "http://testserver"
    rp_id: str = "testserver"
    user_verification: bool = True
    backup_eligible: bool = False
    credentials: list[SoftCredential] = field(default_factory=list)

    def _flags(self, uv: bool | None, *, attested: bool = False, up: bool = True) -> int:
        flags = (UP if up else 0) | (UV if (self.user_verification if uv is None else uv) else 0)
        if self.backup_eligible:
            flags |= BE | BS
        return flags | (AT if attested else 0)

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        ).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool | None = None,
        fmt: str = "none",
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """``navigator.credentials.create(options)``, as ``PublicKeyCredential.toJSON()``."""
        rp = rp_id or self.rp_id
        credential = SoftCredential(
            credential_id=os.urandom(32),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp,
            user_handle=unb64u(options["user"]["id"]),
        )
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin or self.origin
        )
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(uv, attested=True)])
            + (0).to_bytes(4, "big")
            + TEST_AAGUID
            + len(credential.credential_id).to_bytes(2, "big")
            + credential.credential_id
            + credential.cose_public_key()
        )
        statement: dict[str, Any] = {}
        if fmt == "packed":  # self attestation: signed by the credential's own key
            signed = auth_data + hashlib.sha256(client_data).digest()
            statement = {"alg": -7, "sig": credential.key.sign(signed, ec.ECDSA(hashes.SHA256()))}
        attestation = cbor2.dumps({"fmt": fmt, "attStmt": statement, "authData": auth_data})
        self.credentials.append(credential)
        return {
            "id": b64u(credential.credential_id),
            "rawId": b64u(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64u(client_data),
                "attestationObject": b64u(attestation),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def pick(self, options: dict[str, Any]) -> SoftCredential:
        allowed = {unb64u(c["id"]) for c in options.get("allowCredentials") or []}
        for credential in self.credentials:
            if not allowed or credential.credential_id in allowed:
                return credential
        raise LookupError("no credential of this authenticator is allowed")

    def get(
        self,
        options: dict[str, Any],
        *,
        credential: SoftCredential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool | None = None,
        sign_count: int | None = None,
        user_handle: bool = True,
        up: bool = True,
    ) -> dict[str, Any]:
        """``navigator.credentials.get(options)``, as ``PublicKeyCredential.toJSON()``."""
        chosen = credential or self.pick(options)
        chosen.sign_count = chosen.sign_count + 1 if sign_count is None else sign_count
        client_data = self._client_data("webauthn.get", options["challenge"], origin or self.origin)
        auth_data = (
            hashlib.sha256((rp_id or chosen.rp_id).encode()).digest()
            + bytes([self._flags(uv, up=up)])
            + chosen.sign_count.to_bytes(4, "big")
        )
        signature = chosen.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        response = {
            "clientDataJSON": b64u(client_data),
            "authenticatorData": b64u(auth_data),
            "signature": b64u(signature),
        }
        if user_handle:
            response["userHandle"] = b64u(chosen.user_handle)
        return {
            "id": b64u(chosen.credential_id),
            "rawId": b64u(chosen.credential_id),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }


START_REGISTRATION = """mutation($p: String, $c: String) {
  startPasskeyRegistration(currentPassword: $p, code: $c) {
    options errors { field code message } } }"""
FINISH_REGISTRATION = """mutation($cred: JSON!, $name: String) {
  finishPasskeyRegistration(credential: $cred, name: $name) {
    passkey { id name createdAt lastUsedAt transports backupEligible backedUp aaguid }
    errors { field code message } } }"""
START_LOGIN = """mutation($u: String) {
  startPasskeyLogin(username: $u) { options errors { field code message } } }"""
FINISH_LOGIN = """mutation($cred: JSON!) {
  finishPasskeyLogin(credential: $cred) {
    accessToken refreshToken user { username passkeyCount } mfaRequired mfaToken
    errors { field code message } } }"""
MY_PASSKEYS = """query { myPasskeys {
  id name createdAt lastUsedAt transports backupEligible backedUp aaguid } }"""


async def register(
    gql: Any, token: str, authenticator: SoftAuthenticator, name: str | None = "Laptop"
) -> dict[str, Any]:
    """Add a passkey through the API; returns the new passkey as the API shows it."""
    started = (await gql.data(START_REGISTRATION, token=token))["startPasskeyRegistration"]
    assert started["errors"] == [], started
    credential = authenticator.create(started["options"])
    finished = (
        await gql.data(FINISH_REGISTRATION, {"cred": credential, "name": name}, token=token)
    )["finishPasskeyRegistration"]
    assert finished["errors"] == [], finished
    return finished["passkey"]  # type: ignore[no-any-return]


async def login_options(gql: Any, username: str | None = None) -> dict[str, Any]:
    started = (await gql.data(START_LOGIN, {"u": username}))["startPasskeyLogin"]
    assert started["errors"] == [], started
    return started["options"]  # type: ignore[no-any-return]


async def finish_login(gql: Any, credential: dict[str, Any]) -> dict[str, Any]:
    return (await gql.data(FINISH_LOGIN, {"cred": credential}))["finishPasskeyLogin"]  # type: ignore[no-any-return]
