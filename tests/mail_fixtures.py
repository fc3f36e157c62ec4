"""Support for the mail, sign-up, reset and e-mail-change tests: real SMTP servers that
reject, hold or demand TLS and credentials, a throwaway CA, and readers of the database.

Modules that need mail override the ``settings`` fixture with :func:`mail_settings`::

    @pytest.fixture
    def settings(settings, smtp):
        return mail_settings(settings, smtp)

so ``services``, ``app`` and ``gql`` send to the ``smtp`` fixture's aiosmtpd.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select, update
from sqlalchemy.orm import undefer

from stridegraph.app import create_app
from stridegraph.config import Settings
from stridegraph.db.engine import make_session_factory
from stridegraph.db.enums import TokenPurpose
from stridegraph.db.models import OneTimeToken, ServerSettings, Session, User
from stridegraph.domain.crypto import SecretCipher
from stridegraph.domain.mail import Mailer
from stridegraph.domain.passwords import PasswordService
from stridegraph.domain.unit import Services
from tests.smtp import SmtpSink, _Handler, links


def mail_settings(settings: Settings, smtp: SmtpSink) -> Settings:
    return settings.with_(smtp_url=smtp.url)


# --------------------------------------------------------------------------- links


def token_in(message: EmailMessage, path: str) -> str:
    """The ``token`` query value of the message's (plain-text) link to ``path``."""
    for link in links(message):
        parts = urlsplit(link)
        if parts.path == path:
            return parse_qs(parts.query)["token"][0]
    raise AssertionError(f"no link to {path} in: {links(message)}")


# --------------------------------------------------------------------------- database


async def read_user(db: Any, username: str) -> User | None:
    async with make_session_factory(db.engine)() as session:
        # the secrets are deferred on User (db/secrets.py): these tests look at them
        return await session.scalar(
            select(User)
            .options(undefer(User.password_hash), undefer(User.mfa_secret))
            .where(User.username == username)
        )


async def count_users(db: Any) -> int:
    async with make_session_factory(db.engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def read_tokens(
    db: Any, *, user_id: int | None = None, purpose: TokenPurpose | None = None
) -> list[OneTimeToken]:
    query = select(OneTimeToken).order_by(OneTimeToken.id)
    if user_id is not None:
        query = query.where(OneTimeToken.user_id == user_id)
    if purpose is not None:
        query = query.where(OneTimeToken.purpose == purpose)
    async with make_session_factory(db.engine)() as session:
        return list(await session.scalars(query))


async def live_sessions(db: Any, user_id: int) -> int:
    async with make_session_factory(db.engine)() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Session)
                .where(Session.user_id == user_id, Session.revoked_at.is_(None))
            )
            or 0
        )


async def set_server_settings(db: Any, **values: Any) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(update(ServerSettings).values(**values))


async def age_tokens(db: Any, user_id: int, by: dt.timedelta) -> None:
    """Move a user's tokens into the past (issue time and expiry), as if ``by`` had passed."""
    for row in await read_tokens(db, user_id=user_id):
        async with db.engine.begin() as conn:
            await conn.execute(
                update(OneTimeToken)
                .where(OneTimeToken.id == row.id)
                .values(created_at=row.created_at - by, expires_at=row.expires_at - by)
            )


# --------------------------------------------------------------------------- SMTP servers


class ConfigurableSink(SmtpSink):
    """:class:`SmtpSink` with another handler and aiosmtpd options (TLS, AUTH)."""

    def __init__(
        self,
        handler: Any = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        **smtp_options: Any,
    ) -> None:
        super().__init__()
        self.controller = Controller(
            handler or _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=ssl_context,
            **smtp_options,
        )


@dataclass
class RecordingAuthenticator:
    """Accepts one login and records every attempt (mechanism, login, password)."""

    login: str
    password: str
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        login, password = data.login.decode(), data.password.decode()
        self.seen.append((mechanism, login, password))
        return AuthResult(success=(login, password) == (self.login, self.password))


class RejectingHandler:
    """Refuses every message with a permanent 550."""

    def __init__(self) -> None:
        self.attempts = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        return "550 5.7.1 message refused"


class GatedHandler(_Handler):
    """Accepts messages only once ``gate`` is set (a server that is slow to answer)."""

    def __init__(self, sink: SmtpSink) -> None:
        super().__init__(sink)
        self.gate = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 20)
        return await super().handle_DATA(server, session, envelope)


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class TestTls:
    server: ssl.SSLContext
    client: ssl.SSLContext


def make_tls(directory: Path) -> TestTls:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it; the client
    context trusts only that CA (and checks the host name as in production)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stridegraph test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(ca_file))
    return TestTls(server=server, client=client)


# --------------------------------------------------------------------------- a second app


@asynccontextmanager
async def graphql_for(settings: Settings, db: Any) -> AsyncIterator[tuple[Any, Services]]:
    """A client and services for an app on ``settings`` (e.g. another SMTP server), built
    like the ``gql`` fixture's; the mailer is drained and stopped afterwards."""
    from tests.conftest import GraphQLClient

    services = Services(
        settings=settings,
        sessions=make_session_factory(db.engine),
        passwords=PasswordService(settings),
        mailer=Mailer(settings.smtp_url, settings.mail_from, base_delay=0.05),
        cipher=SecretCipher(settings.encryption_keys),
    )
    app = create_app(settings, services=services)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http), services
    finally:
        await services.mailer.stop()
        services.passwords.close()
