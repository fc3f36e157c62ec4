"""SQLAlchemy 2 typed models: everything this service owns.

Alembic migrations (``db/migrations``) are the only way a schema is made; a test checks that
these models and the migrations agree. Usernames (ASCII only) are unique case-insensitively
through a unique index on ``lower()``; e-mail addresses through a unique index on
``email_key``, their NFC + casefold form computed in Python (``db/keys.py``), so PostgreSQL
and SQLite agree. On SQLite every integer surrogate key is ``AUTOINCREMENT``: an id, once
used, never names another row (``User:31``, ``/photos/31`` and federation keys stay meaningful
after a deletion).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from stridegraph.db.enums import (
    AccessType,
    ActivityVisibility,
    Currency,
    Gender,
    Language,
    PasswordPolicy,
    TokenPurpose,
    Units,
    WeekDay,
)
from stridegraph.db.keys import EMAIL_KEY_LENGTH, email_key

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _enum(cls: type, length: int = 20) -> Enum:
    """Store an enum by its lower-case value in a plain VARCHAR (portable, easy to migrate)."""
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


#: Table option for every table with an integer surrogate key: SQLite then never hands out
#: the id of a deleted row again (PostgreSQL sequences never do).
AUTOINCREMENT: dict[str, Any] = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """An account and its profile (the seed's ``users`` table, plus timestamps and MFA state)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(250))
    username: Mapped[str] = mapped_column(String(250))
    email: Mapped[str] = mapped_column(String(250))
    #: ``email`` normalised (``db/keys.email_key``), kept in step by :meth:`_key_email`; what
    #: every lookup by address and the unique index use. NULL for an account that does not
    #: own its address (a sign-up with a taken address, see ``domain/signup.py``).
    email_key: Mapped[str | None] = mapped_column(String(EMAIL_KEY_LENGTH), nullable=True)
    #: Deferred, and never loaded implicitly: read it through ``db/secrets.py``.
    password_hash: Mapped[str | None] = mapped_column(
        String(255), nullable=True, deferred=True, deferred_raiseload=True
    )
    city: Mapped[str | None] = mapped_column(String(250), nullable=True)
    birthdate: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    preferred_language: Mapped[Language] = mapped_column(_enum(Language, 5), default=Language.US)
    gender: Mapped[Gender] = mapped_column(_enum(Gender), default=Gender.UNSPECIFIED)
    units: Mapped[Units] = mapped_column(_enum(Units), default=Units.METRIC)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_heart_rate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    access_type: Mapped[AccessType] = mapped_column(_enum(AccessType), default=AccessType.REGULAR)
    photo_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    first_day_of_week: Mapped[WeekDay] = mapped_column(_enum(WeekDay), default=WeekDay.MONDAY)
    currency: Mapped[Currency] = mapped_column(_enum(Currency), default=Currency.EURO)
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Deferred, and never loaded implicitly: read it through ``db/secrets.py``.
    mfa_secret: Mapped[str | None] = mapped_column(
        Text, nullable=True, deferred=True, deferred_raiseload=True
    )
    mfa_pending_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    mfa_last_used_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    pending_admin_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    @validates("email")
    def _key_email(self, _key: str, value: str) -> str:
        """The one place ``email_key`` follows ``email``: every assignment re-keys it."""
        self.email_key = email_key(value)
        return value

    __table_args__ = (
        Index("uq_users_username_lower", func.lower(username), unique=True),
        Index("uq_users_email_key", "email_key", unique=True),
        Index("ix_users_access_type_active", "access_type", "active"),
        # One per sort order of the users listing, (sort key, id), so a keyset cursor's
        # row-value comparison seeks the index (``db.users._beyond``).
        Index("ix_users_keyset_username", func.lower(username), "id"),
        Index("ix_users_keyset_name", func.lower(name), "id"),
        Index("ix_users_keyset_created_at", "created_at", "id"),
        Index("ix_users_keyset_access_type", "access_type", "id"),
        Index("ix_users_photo_path", "photo_path"),
        CheckConstraint("height IS NULL OR (height BETWEEN 1 AND 300)", name="height_range"),
        CheckConstraint(
            "max_heart_rate IS NULL OR (max_heart_rate BETWEEN 30 AND 250)", name="max_hr_range"
        ),
        AUTOINCREMENT,
    )


class PrivacySettings(Base):
    """Per-user privacy choices (1:1 with users): the 12 hide flags and default visibility."""

    __tablename__ = "user_privacy_settings"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    default_activity_visibility: Mapped[ActivityVisibility] = mapped_column(
        _enum(ActivityVisibility), default=ActivityVisibility.PUBLIC
    )
    hide_activity_start_time: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_activity_location: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_activity_map: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_activity_hr: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_activity_power: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_activity_cadence: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_activity_elevation: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_activity_speed: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_activity_pace: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_activity_laps: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_activity_workout_sets_steps: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_activity_gear: Mapped[bool] = mapped_column(Boolean, default=False)


HIDE_FLAGS: tuple[str, ...] = tuple(
    c.name for c in PrivacySettings.__table__.columns if c.name.startswith("hide_")
)


class Integrations(Base):
    """Which third-party services a user has linked (the seed's UsersMe integration flags)."""

    __tablename__ = "user_integrations"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    strava_linked: Mapped[bool] = mapped_column(Boolean, default=False)
    garminconnect_linked: Mapped[bool] = mapped_column(Boolean, default=False)


class IdentityProviderLink(Base):
    """An external identity linked to a user (counted as ``externalAuthCount``)."""

    __tablename__ = "user_identity_providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        Index("uq_identity_provider_subject", "provider", "subject", unique=True),
        AUTOINCREMENT,
    )


class ServerSettings(Base):
    """The single row of server-wide settings (id is always 1)."""

    __tablename__ = "server_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    signup_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    signup_require_email_verification: Mapped[bool] = mapped_column(Boolean, default=True)
    signup_require_admin_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    public_profiles: Mapped[bool] = mapped_column(Boolean, default=False)
    password_policy: Mapped[PasswordPolicy] = mapped_column(
        _enum(PasswordPolicy), default=PasswordPolicy.LENGTH_ONLY
    )
    password_min_length_regular: Mapped[int] = mapped_column(Integer, default=8)
    password_min_length_admin: Mapped[int] = mapped_column(Integer, default=12)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class Session(Base):
    """A login session: one rotation family of access and refresh tokens (hashes only)."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    access_token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    access_expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    refresh_token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    refresh_expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (AUTOINCREMENT,)


class RotatedRefreshToken(Base):
    """A refresh token already exchanged: presenting it again revokes its whole session."""

    __tablename__ = "rotated_refresh_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    rotated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class OneTimeToken(Base):
    """E-mail verification, password reset, e-mail change and MFA-login tokens: hashed,
    expiring, single use. ``new_email`` carries the address an e-mail change confirms."""

    __tablename__ = "one_time_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(_enum(TokenPurpose, 30))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    new_email: Mapped[str | None] = mapped_column(String(250), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (AUTOINCREMENT,)


class MfaBackupCode(Base):
    """One MFA backup code, stored as a hash; usable once."""

    __tablename__ = "mfa_backup_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (AUTOINCREMENT,)


class ApiToken(Base):
    """A personal API token for scripts: shown once, stored hashed, scoped, optionally expiring."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_prefix: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (AUTOINCREMENT,)


class LoginAttempt(Base):
    """A failed login (or MFA code), for rate limits shared by every worker and restart."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_key: Mapped[str] = mapped_column(String(250))
    client_address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_login_attempts_account", "account_key", "created_at"),
        Index("ix_login_attempts_address", "client_address", "created_at"),
        AUTOINCREMENT,
    )


#: ``outbox.state`` values: a row is written ``queued``, claimed ``sending`` (with a lease),
#: then ``sent``, or back to ``queued`` for a retry, or ``failed`` after the last attempt.
OUTBOX_STATES = ("queued", "sending", "sent", "failed")


class OutboxMail(Base):
    """One mail to send, written in the transaction of the change that causes it, so a
    rolled-back change sends nothing and a crash after the commit loses nothing.

    ``message_id`` is the ``Message-ID`` header of every attempt, so a retry after a crash is
    recognisably the same mail. The bodies (they hold one-time links) are set to NULL once the
    mail was delivered or given up; the metadata stays for operators and metrics.
    ``lease_until`` bounds a claim: a worker that died mid-send leaves a row that is claimable
    again once its lease ran out."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998))
    body_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    body_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("state IN ('queued', 'sending', 'sent', 'failed')", name="state_known"),
        # the claim (due queued rows, expired leases) and the metrics' GROUP BY state
        Index("ix_outbox_state_due", "state", "next_attempt_at"),
        AUTOINCREMENT,
    )


class IdentityProvider(Base):
    """An OpenID Connect provider users may sign in with (Authentik, Keycloak, Google...).

    Made by an administrator, or declared in configuration (``from_configuration``: then
    synchronised from ``STRIDEGRAPH_IDENTITY_PROVIDERS`` and read-only through the API).
    ``slug`` is what a link (``user_identity_providers.provider``) names. The client secret is
    encrypted with the MFA secrets' cipher and never loaded implicitly."""

    __tablename__ = "identity_providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    icon_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    #: Deferred, and never loaded implicitly: read it through ``db/identities.py``.
    client_secret_encrypted: Mapped[str] = mapped_column(
        Text, deferred=True, deferred_raiseload=True
    )
    scopes: Mapped[str] = mapped_column(String(500))
    allow_signup: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Space-separated e-mail domains it may link or create accounts for; empty: any.
    allowed_domains: Mapped[str] = mapped_column(String(1000), default="")
    #: ``claim`` or ``claim=value``: a signed-in user whose ID token has it becomes an admin.
    admin_claim: Mapped[str | None] = mapped_column(String(200), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    from_configuration: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (AUTOINCREMENT,)


class OAuthState(Base):
    """One started external sign-in or link: the ``state`` (stored as its HMAC digest), the
    PKCE verifier (encrypted) and the nonce, single use, expiring after ten minutes.
    ``user_id`` is set for a link, which only that user may finish."""

    __tablename__ = "oauth_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    provider: Mapped[str] = mapped_column(String(50))
    purpose: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    redirect_uri: Mapped[str] = mapped_column(String(500))
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (AUTOINCREMENT,)


class PasskeyUserHandle(Base):
    """The WebAuthn user handle of an account: random, opaque, made at its first passkey
    registration. Authenticators store it with a discoverable credential and send it back at
    sign-in; it says nothing about the account (not its id, not its name)."""

    __tablename__ = "passkey_user_handles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    handle: Mapped[bytes] = mapped_column(LargeBinary(64), unique=True)


class Passkey(Base):
    """A WebAuthn credential registered to an account: its id and public key (COSE, as the
    authenticator gave it), the signature counter last seen, and what the user sees of it."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Comma-separated WebAuthn transport names (``internal,hybrid``), as the browser gave them.
    transports: Mapped[str] = mapped_column(String(200), default="")
    aaguid: Mapped[str] = mapped_column(String(36))
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (AUTOINCREMENT,)


#: ``passkey_challenges.purpose`` values.
PASSKEY_PURPOSES = ("registration", "login")


class PasskeyChallenge(Base):
    """A WebAuthn ceremony in progress: the HMAC digest of the challenge we sent, what it is
    for, and (registration, or sign-in with a username) whose it is. Single use and short
    lived; in the database so that any worker can finish a ceremony another one started."""

    __tablename__ = "passkey_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    purpose: Mapped[str] = mapped_column(String(20))
    challenge_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("purpose IN ('registration', 'login')", name="purpose_known"),
        AUTOINCREMENT,
    )


class SecurityEvent(Base):
    """One security-relevant event (``domain/security_events.py``), written in the
    transaction of the action it records.

    ``actor_id`` is deliberately not a foreign key: when the actor's account is deleted, an
    event about *another* user keeps the actor's id (an administrator's action stays
    attributable), while everything else about the actor on it is cleared
    (``db/security_events.forget_user``). ``subject_id`` cascades: a user's own history goes
    with the account. ``session_id`` is not a foreign key either: sessions are purged long
    before their events. ``user_agent`` is a parsed summary, never the raw header; ``detail``
    a small JSON object that never holds a secret."""

    __tablename__ = "security_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    type: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    session_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        # newest first, keyset on (at, id): one index per filter the listings take
        Index("ix_security_events_at", "at", "id"),
        Index("ix_security_events_subject", "subject_id", "at", "id"),
        Index("ix_security_events_actor", "actor_id", "at", "id"),
        Index("ix_security_events_type", "type", "at", "id"),
        AUTOINCREMENT,
    )


#: ``data_exports.state``: ``pending`` while the archive is built, then ``ready`` or
#: ``failed``.
EXPORT_STATES = ("pending", "ready", "failed")


class DataExport(Base):
    """A user's data export (``domain/export.py``): a ZIP under ``DATA_DIR/exports``, named
    by an unguessable file name, downloadable by its owner until ``expires_at``."""

    __tablename__ = "data_exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    file_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("state IN ('pending', 'ready', 'failed')", name="state_known"),
        Index("ix_data_exports_user", "user_id", "created_at"),
        Index("ix_data_exports_expires", "expires_at"),
        # one export in the making per user, however concurrent the requests
        Index(
            "uq_data_exports_pending",
            "user_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        AUTOINCREMENT,
    )


class NotificationOptOut(Base):
    """A kind of security mail a user turned off (``domain/security_alerts.OPTIONAL``): one
    row per kind, so a new kind needs no schema change."""

    __tablename__ = "notification_opt_outs"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
