"""Configuration: every ``STRIDEGRAPH_*`` variable, parsed and validated once at start.

A bad value raises :class:`ConfigError` naming the variable, so the CLI can print one line and
exit 2 instead of a traceback. In the embedded (SQLite) mode the secret keys are generated once
into ``DATA_DIR`` with mode 0600 and reused; with PostgreSQL they must be given.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit

PREFIX = "STRIDEGRAPH_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_API_TOKEN_TTL = 100 * 365 * 24 * 3600  # 100 years, in seconds


@dataclass(frozen=True)
class ConfiguredProvider:
    """An OpenID Connect provider declared in ``STRIDEGRAPH_IDENTITY_PROVIDERS``; checked
    and stored like one an administrator made (``domain/identity_providers.py``)."""

    slug: str
    name: str
    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    icon_url: str | None = None
    allow_signup: bool = False
    allowed_domains: tuple[str, ...] = ()
    admin_claim: str | None = None
    enabled: bool = True


class ConfigError(Exception):
    """A configuration value is unusable; ``variable`` names the environment variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{PREFIX}{variable}: {problem}")
        self.variable = PREFIX + variable


@dataclass(frozen=True)
class Settings:
    """Process-wide configuration. Immutable: tests derive variants with :meth:`with_`."""

    database_url: str
    secret_key: str
    encryption_keys: tuple[str, ...]
    data_dir: Path
    public_url: str = "http://127.0.0.1:8000"
    smtp_url: str | None = None
    mail_from: str = "stridegraph <no-reply@localhost>"
    #: Outbox delivery: tries per mail, backoff ``base * 2 ** (n - 1)`` capped at ``max``
    #: (seconds), idle poll (other replicas' mail), claim lease (must exceed the SMTP timeout).
    mail_max_attempts: int = 8
    mail_backoff_base_seconds: float = 30.0
    mail_backoff_max_seconds: float = 3600.0
    mail_poll_interval_seconds: float = 5.0
    mail_lease_seconds: float = 120.0
    mail_concurrency: int = 4
    cors_origins: tuple[str, ...] = ()
    introspection: bool = True
    graphiql: bool = True
    #: Browser sessions: the refresh token travels in an HttpOnly cookie, not the payload
    #: (``graph/cookies.py``); ``login(refreshTokenInCookie:)`` overrides it per login.
    refresh_cookie: bool = False
    log_level: str = "INFO"
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    api_token_ttl_seconds: int = 90 * 24 * 3600
    reauth_window_seconds: int = 5 * 60
    refresh_reuse_grace_seconds: int = 2
    login_max_failures_account: int = 5
    login_max_failures_address: int = 50
    login_window_seconds: int = 15 * 60
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    max_upload_bytes: int = 5 * 1024 * 1024
    max_image_pixels: int = 4096 * 4096
    image_concurrency: int = 2
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536
    argon2_parallelism: int = 4
    hash_concurrency: int = 2
    mfa_issuer: str = "stridegraph"
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_body_bytes: int = 1024 * 1024
    #: Automatic persisted queries (Apollo's APQ, ``graph/persisted.py``): on, and how many
    #: registered documents each worker keeps (least recently used out).
    persisted_queries: bool = True
    persisted_queries_size: int = 1000
    #: answer known plain queries from a compiled plan (graph/precompiled.py); off: always
    #: through the executor
    precompiled_queries: bool = True
    #: Representations one ``_entities`` call may carry (one gateway fetch per plan step).
    max_representations: int = 1000
    #: Pooled connections per worker kept open, extra ones opened under load, and how long
    #: a request waits for one (seconds) before it fails with SERVICE_UNAVAILABLE. No
    #: overflow by default: an overflow connection is closed as soon as it is returned while
    #: the pool is full, so under sustained concurrency above the pool size nearly every
    #: request paid for a new connection (TCP, TLS attempt, authentication, statement
    #: preparation), measured at 34 req/s for ``me`` against 930 with waiting for one of ten.
    db_pool_size: int = 10
    db_max_overflow: int = 0
    db_pool_timeout_seconds: int = 30
    #: PgBouncer (or another pooler) in transaction mode sits in front of PostgreSQL: no
    #: server-side prepared-statement cache, and reads inside a transaction (``db/engine.py``).
    db_transaction_pooler: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    gateway_secret: str | None = None
    metrics_token: str | None = None
    body_timeout_seconds: int = 30
    #: On SIGTERM, seconds a worker waits for in-flight requests before cancelling them
    #: (each cancelled request's transaction rolls back; see the README's "Stopping").
    shutdown_grace_seconds: int = 20
    #: OpenTelemetry traces: none (off), console (JSON lines on stdout) or otlp (stridegraph/tracing.py).
    otel_exporter: str = "none"
    extra: Mapping[str, str] = field(default_factory=dict)
    #: Sign-ups and password-reset requests per client address per ``signup_window_seconds``.
    signup_max_per_address: int = 10
    reset_max_per_address: int = 10
    signup_window_seconds: int = 3600
    # --- retention purge (domain/retention.py) ---
    #: Seconds between purge rounds inside the server (jittered); 0 turns the schedule off.
    purge_interval_seconds: int = 3600
    #: At most this many rows per DELETE statement (each its own transaction).
    purge_batch: int = 1000
    retention_sessions_seconds: int = 7 * 24 * 3600
    retention_tokens_seconds: int = 24 * 3600
    retention_mfa_challenges_seconds: int = 3600
    #: 0: the longest window the rate limits read; a larger value keeps rows longer, never
    #: shorter (the policy takes the maximum).
    retention_login_attempts_seconds: int = 0
    retention_api_tokens_seconds: int = 30 * 24 * 3600
    retention_outbox_sent_seconds: int = 7 * 24 * 3600
    # --- OpenID Connect sign-in (domain/identity.py) ---
    #: Providers declared here (``IDENTITY_PROVIDERS``: JSON, or the path of a JSON file).
    identity_providers: tuple[ConfiguredProvider, ...] = ()
    #: The only ``redirectUri`` values an external sign-in may return to (exact match).
    oidc_redirect_uris: tuple[str, ...] = ()
    #: Seconds allowed for each call to a provider, and how long discovery documents and
    #: key sets are reused before they are fetched again.
    oidc_timeout_seconds: float = 10.0
    oidc_cache_seconds: float = 3600.0
    # --- passkeys (domain/passkeys.py) ---
    #: The WebAuthn relying party id; None: PUBLIC_URL's host name.
    webauthn_rp_id: str | None = None
    #: The origins a WebAuthn response may come from; empty: PUBLIC_URL's origin.
    webauthn_origins: tuple[str, ...] = ()
    #: The name authenticators show for this service.
    webauthn_rp_name: str = "stridegraph"
    #: ``preferred`` (a passkey without user verification is a first factor only) or
    #: ``required`` (a sign-in without user verification is refused).
    webauthn_user_verification: str = "preferred"
    #: Whether signUp without a password (an account whose credential is a passkey) is allowed.
    passwordless_signup: bool = False

    @property
    def passkey_rp_id(self) -> str:
        return self.webauthn_rp_id or (urlsplit(self.public_url).hostname or "localhost")

    @property
    def passkey_origins(self) -> tuple[str, ...]:
        if self.webauthn_origins:
            return self.webauthn_origins
        parts = urlsplit(self.public_url)
        return (f"{parts.scheme}://{parts.netloc}",)

    # --- security history and data export (domain/security_events.py, domain/export.py) ---
    #: How long security events are kept before the purge deletes them (default one year).
    retention_security_events_seconds: int = 365 * 24 * 3600
    #: How long a finished data export can be downloaded before the purge deletes it.
    export_ttl_seconds: int = 7 * 24 * 3600
    #: At most this many export requests per user per day (one builds at a time anyway).
    export_max_per_day: int = 3

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def mail_enabled(self) -> bool:
        return bool(self.smtp_url)

    @property
    def photos_dir(self) -> Path:
        return self.data_dir / "photos"

    def with_(self, **changes: object) -> Settings:
        """Return a copy with some values replaced (used by tests and the CLI)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(PREFIX + name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"expected an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"expected a number, got {raw!r}") from None
    if not value >= minimum:  # also refuses NaN
        raise ConfigError(name, f"must be at least {minimum}, got {raw}")
    return value


def _bounded(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    value = _int(env, name, default, minimum=minimum)
    if value > maximum:
        raise ConfigError(name, f"must be at most {maximum}, got {value}")
    return value


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """A shared secret a client sends (gateway, metrics scraper): long enough not to guess."""
    value = _get(env, name)
    if value is not None and len(value) < 16:
        raise ConfigError(name, "must be at least 16 characters")
    return value


def _port(env: Mapping[str, str]) -> int:
    port = _int(env, "PORT", 8000, minimum=1)
    if port > 65535:
        raise ConfigError("PORT", f"must be at most 65535, got {port}")
    return port


def _api_token_ttl(env: Mapping[str, str]) -> int:
    """Bounded above so that now + TTL is always a date the databases can store."""
    ttl = _int(env, "API_TOKEN_TTL", 90 * 24 * 3600, minimum=60)
    if ttl > MAX_API_TOKEN_TTL:
        raise ConfigError("API_TOKEN_TTL", f"must be at most {MAX_API_TOKEN_TTL}, got {ttl}")
    return ttl


def served_url(host: str, port: int) -> str:
    """PUBLIC_URL's default: the address ``serve`` listens on, as a browser on this machine
    reaches it (a wildcard bind at the loopback address), so photo and mail links work out
    of the box on any port."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"expected true or false, got {raw!r}")


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    raw = _get(env, "DATABASE_URL")
    if raw is None:
        return f"sqlite+aiosqlite:///{data_dir / 'stridegraph.sqlite3'}"
    if raw.startswith("sqlite+aiosqlite:///"):
        return raw
    if raw.startswith("postgresql+asyncpg://"):
        parts = urlsplit(raw)
        try:
            parts.port  # noqa: B018 - raises on a non-numeric port
        except ValueError:
            raise ConfigError("DATABASE_URL", "the port is not a number") from None
        if not parts.hostname and "host=" not in parts.query:
            raise ConfigError("DATABASE_URL", "no host in the PostgreSQL URL")
        if not parts.path.strip("/"):
            raise ConfigError("DATABASE_URL", "no database name in the PostgreSQL URL")
        return raw
    raise ConfigError(
        "DATABASE_URL",
        "expected sqlite+aiosqlite:///<path> or postgresql+asyncpg://user@host:port/db",
    )


def _url(
    env: Mapping[str, str], name: str, default: str | None, schemes: tuple[str, ...]
) -> str | None:
    raw = _get(env, name)
    if raw is None:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(name, f"expected a URL with scheme {' or '.join(schemes)}, got {raw!r}")
    try:
        parts.port  # noqa: B018
    except ValueError:
        raise ConfigError(name, "the port is not a number") from None
    return raw.rstrip("/")


def _networks(
    env: Mapping[str, str], name: str
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    raw = _get(env, name)
    if raw is None:
        return ()
    try:
        return tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in raw.split(",") if p.strip()
        )
    except ValueError as exc:
        raise ConfigError(name, f"not a list of addresses or networks: {exc}") from None


def _key_file(data_dir: Path, filename: str) -> str:
    """Read a generated key from DATA_DIR, creating it (mode 0600) on first start."""
    path = data_dir / filename
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def _keys(env: Mapping[str, str], embedded: bool, data_dir: Path) -> tuple[str, tuple[str, ...]]:
    secret = _get(env, "SECRET_KEY")
    encryption = _get(env, "ENCRYPTION_KEY")
    if not embedded:
        if secret is None:
            raise ConfigError("SECRET_KEY", "required with PostgreSQL (at least 32 characters)")
        if encryption is None:
            raise ConfigError("ENCRYPTION_KEY", "required with PostgreSQL (comma-separated keys)")
    secret = secret or _key_file(data_dir, "secret_key")
    encryption = encryption or _key_file(data_dir, "encryption_key")
    if len(secret) < 32:
        raise ConfigError("SECRET_KEY", "must be at least 32 characters")
    keys = tuple(k.strip() for k in encryption.split(",") if k.strip())
    if not keys or any(len(k) < 32 for k in keys):
        raise ConfigError(
            "ENCRYPTION_KEY", "each comma-separated key must be at least 32 characters"
        )
    return secret, keys


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse the environment; raise :class:`ConfigError` on the first bad value."""
    env = os.environ if env is None else env
    data_dir = Path(_get(env, "DATA_DIR") or "./data").resolve()
    database_url = _database_url(env, data_dir)
    embedded = database_url.startswith("sqlite")
    log_level = (_get(env, "LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError("LOG_LEVEL", f"expected one of {', '.join(LOG_LEVELS)}")
    secret, keys = _keys(env, embedded, data_dir)
    cors = _get(env, "CORS_ORIGINS")
    host, port = _get(env, "HOST") or "127.0.0.1", _port(env)
    return Settings(
        database_url=database_url,
        secret_key=secret,
        encryption_keys=keys,
        data_dir=data_dir,
        public_url=_url(env, "PUBLIC_URL", None, ("http", "https")) or served_url(host, port),
        smtp_url=_url(env, "SMTP_URL", None, ("smtp", "smtps", "smtp+starttls")),
        mail_from=_get(env, "MAIL_FROM") or "stridegraph <no-reply@localhost>",
        mail_max_attempts=_int(env, "MAIL_MAX_ATTEMPTS", 8, minimum=1),
        mail_backoff_base_seconds=_float(env, "MAIL_BACKOFF_BASE", 30.0, minimum=0.01),
        mail_backoff_max_seconds=_float(env, "MAIL_BACKOFF_MAX", 3600.0, minimum=0.01),
        mail_poll_interval_seconds=_float(env, "MAIL_POLL_INTERVAL", 5.0, minimum=0.05),
        mail_lease_seconds=_float(env, "MAIL_LEASE", 120.0, minimum=1.0),
        mail_concurrency=_int(env, "MAIL_CONCURRENCY", 4, minimum=1),
        cors_origins=tuple(o.strip() for o in cors.split(",") if o.strip()) if cors else (),
        # on by default only for the embedded SQLite default (development); never implicitly
        # in production
        introspection=_bool(env, "INTROSPECTION", embedded),
        graphiql=_bool(env, "GRAPHIQL", embedded),
        refresh_cookie=_bool(env, "REFRESH_COOKIE", False),
        log_level=log_level,
        access_token_ttl_seconds=_int(env, "ACCESS_TOKEN_TTL", 15 * 60, minimum=30),
        refresh_token_ttl_seconds=_int(env, "REFRESH_TOKEN_TTL", 30 * 24 * 3600, minimum=60),
        api_token_ttl_seconds=_api_token_ttl(env),
        reauth_window_seconds=_int(env, "REAUTH_WINDOW", 5 * 60, minimum=0),
        refresh_reuse_grace_seconds=_bounded(env, "REFRESH_REUSE_GRACE", 2, 0, 60),
        login_max_failures_account=_int(env, "LOGIN_MAX_FAILURES_ACCOUNT", 5, minimum=1),
        login_max_failures_address=_int(env, "LOGIN_MAX_FAILURES_ADDRESS", 50, minimum=1),
        login_window_seconds=_int(env, "LOGIN_WINDOW", 15 * 60, minimum=1),
        trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
        max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", 5 * 1024 * 1024, minimum=1024),
        max_image_pixels=_int(env, "MAX_IMAGE_PIXELS", 4096 * 4096, minimum=1),
        image_concurrency=_int(env, "IMAGE_CONCURRENCY", 2, minimum=1),
        argon2_time_cost=_int(env, "ARGON2_TIME_COST", 3, minimum=1),
        argon2_memory_cost=_int(env, "ARGON2_MEMORY_COST", 65536, minimum=8),
        argon2_parallelism=_int(env, "ARGON2_PARALLELISM", 4, minimum=1),
        hash_concurrency=_int(
            env, "HASH_CONCURRENCY", max(1, (os.cpu_count() or 2) // 2), minimum=1
        ),
        mfa_issuer=_get(env, "MFA_ISSUER") or "stridegraph",
        max_query_depth=_int(env, "MAX_QUERY_DEPTH", 12, minimum=2),
        max_aliases=_int(env, "MAX_ALIASES", 30, minimum=1),
        max_tokens=_int(env, "MAX_TOKENS", 2000, minimum=50),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 1024 * 1024, minimum=1024),
        persisted_queries=_bool(env, "PERSISTED_QUERIES", True),
        persisted_queries_size=_int(env, "PERSISTED_QUERIES_SIZE", 1000, minimum=1),
        precompiled_queries=_bool(env, "PRECOMPILED_QUERIES", True),
        max_representations=_int(env, "MAX_REPRESENTATIONS", 1000, minimum=1),
        db_pool_size=_int(env, "DB_POOL_SIZE", 10, minimum=1),
        db_max_overflow=_int(env, "DB_MAX_OVERFLOW", 0, minimum=0),
        db_pool_timeout_seconds=_bounded(env, "DB_POOL_TIMEOUT", 30, 1, 600),
        db_transaction_pooler=_bool(env, "DB_TRANSACTION_POOLER", False),
        host=host,
        port=port,
        workers=_int(env, "WORKERS", 1, minimum=1),
        signup_max_per_address=_int(env, "SIGNUP_MAX_PER_ADDRESS", 10, minimum=1),
        reset_max_per_address=_int(env, "RESET_MAX_PER_ADDRESS", 10, minimum=1),
        signup_window_seconds=_int(env, "SIGNUP_WINDOW", 3600, minimum=1),
        gateway_secret=_secret(env, "GATEWAY_SECRET"),
        metrics_token=_secret(env, "METRICS_TOKEN"),
        body_timeout_seconds=_bounded(env, "BODY_TIMEOUT", 30, 1, 3600),
        shutdown_grace_seconds=_bounded(env, "SHUTDOWN_GRACE", 20, 0, 3600),
        otel_exporter=_otel_exporter(env),
        **_retention(env),
        identity_providers=_identity_providers(env),
        oidc_redirect_uris=_redirect_uris(env),
        oidc_timeout_seconds=_float(env, "OIDC_TIMEOUT", 10.0, minimum=0.1),
        oidc_cache_seconds=_float(env, "OIDC_CACHE_SECONDS", 3600.0, minimum=1.0),
        **_webauthn(env),
        **_history(env),
    )


class _WebAuthnSettings(TypedDict):
    webauthn_rp_id: str | None
    webauthn_origins: tuple[str, ...]
    webauthn_rp_name: str
    webauthn_user_verification: str
    passwordless_signup: bool


def _webauthn(env: Mapping[str, str]) -> _WebAuthnSettings:
    """The passkey settings (``STRIDEGRAPH_WEBAUTHN_*``). The RP id and the origins default
    from PUBLIC_URL (see :attr:`Settings.passkey_rp_id`), so one variable set right is
    enough; each origin must be a bare ``scheme://host[:port]``, as browsers report it."""
    rp_id = _get(env, "WEBAUTHN_RP_ID")
    if rp_id is not None and ("/" in rp_id or ":" in rp_id or not rp_id.strip(".")):
        raise ConfigError("WEBAUTHN_RP_ID", f"expected a host name, got {rp_id!r}")
    origins: list[str] = []
    for raw in (_get(env, "WEBAUTHN_ORIGINS") or "").split(","):
        if not raw.strip():
            continue
        parts = urlsplit(raw.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
            raise ConfigError("WEBAUTHN_ORIGINS", f"expected scheme://host[:port], got {raw!r}")
        origins.append(f"{parts.scheme}://{parts.netloc}")
    verification = (_get(env, "WEBAUTHN_USER_VERIFICATION") or "preferred").lower()
    if verification not in ("preferred", "required"):
        raise ConfigError("WEBAUTHN_USER_VERIFICATION", "expected preferred or required")
    return {
        "webauthn_rp_id": rp_id.lower() if rp_id else None,
        "webauthn_origins": tuple(origins),
        "webauthn_rp_name": _get(env, "WEBAUTHN_RP_NAME") or "stridegraph",
        "webauthn_user_verification": verification,
        "passwordless_signup": _bool(env, "PASSWORDLESS_SIGNUP", False),
    }


OTEL_EXPORTERS = ("none", "console", "otlp")


def _otel_exporter(env: Mapping[str, str]) -> str:
    """Ours first, else the standard ``OTEL_TRACES_EXPORTER``; unset means off (the SDK's
    own default would be otlp, which must not switch tracing on unasked)."""
    raw = _get(env, "OTEL_EXPORTER") or (env.get("OTEL_TRACES_EXPORTER") or "").strip() or "none"
    if raw.lower() not in OTEL_EXPORTERS:
        raise ConfigError("OTEL_EXPORTER", f"expected one of {', '.join(OTEL_EXPORTERS)}")
    return raw.lower()


class _RetentionSettings(TypedDict):
    purge_interval_seconds: int
    purge_batch: int
    retention_sessions_seconds: int
    retention_tokens_seconds: int
    retention_mfa_challenges_seconds: int
    retention_login_attempts_seconds: int
    retention_api_tokens_seconds: int
    retention_outbox_sent_seconds: int


def _retention(env: Mapping[str, str]) -> _RetentionSettings:
    """The retention purge's settings (``STRIDEGRAPH_PURGE_*``, ``STRIDEGRAPH_RETENTION_*``).
    Tokens are kept at least a minute after use or expiry: the resend cooldowns read the
    newest token's issue time."""
    day = 24 * 3600
    return {
        "purge_interval_seconds": _int(env, "PURGE_INTERVAL", 3600, minimum=0),
        "purge_batch": _bounded(env, "PURGE_BATCH", 1000, 1, 100_000),
        "retention_sessions_seconds": _int(env, "RETENTION_SESSIONS", 7 * day, minimum=0),
        "retention_tokens_seconds": _int(env, "RETENTION_TOKENS", day, minimum=60),
        "retention_mfa_challenges_seconds": _int(env, "RETENTION_MFA_CHALLENGES", 3600),
        "retention_login_attempts_seconds": _int(env, "RETENTION_LOGIN_ATTEMPTS", 0),
        "retention_api_tokens_seconds": _int(env, "RETENTION_API_TOKENS", 30 * day),
        "retention_outbox_sent_seconds": _int(env, "RETENTION_OUTBOX_SENT", 7 * day),
    }


_PROVIDER_KEYS = {
    "slug",
    "name",
    "issuer",
    "clientId",
    "clientSecret",
    "scopes",
    "iconUrl",
    "allowSignup",
    "allowedDomains",
    "adminClaim",
    "enabled",
}


def _strings(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("IDENTITY_PROVIDERS", f"{what} must be a list of strings")
    return tuple(value)


def _identity_provider(entry: object, n: int) -> ConfiguredProvider:
    if not isinstance(entry, dict):
        raise ConfigError("IDENTITY_PROVIDERS", f"entry {n} is not an object")
    unknown = set(entry) - _PROVIDER_KEYS
    if unknown:
        raise ConfigError("IDENTITY_PROVIDERS", f"entry {n}: unknown keys {sorted(unknown)}")
    for key in ("slug", "name", "issuer", "clientId", "clientSecret"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ConfigError("IDENTITY_PROVIDERS", f"entry {n}: {key} is required (a string)")
    if urlsplit(entry["issuer"]).scheme not in ("http", "https"):
        raise ConfigError("IDENTITY_PROVIDERS", f"entry {n}: issuer must be an http(s) URL")
    for key in ("allowSignup", "enabled"):
        if key in entry and not isinstance(entry[key], bool):
            raise ConfigError("IDENTITY_PROVIDERS", f"entry {n}: {key} must be true or false")
    for key in ("iconUrl", "adminClaim"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise ConfigError("IDENTITY_PROVIDERS", f"entry {n}: {key} must be a string")
    return ConfiguredProvider(
        slug=entry["slug"].strip(),
        name=entry["name"].strip(),
        issuer=entry["issuer"].strip().rstrip("/"),
        client_id=entry["clientId"].strip(),
        client_secret=entry["clientSecret"],
        scopes=_strings(entry.get("scopes", "openid email profile"), "scopes"),
        icon_url=entry.get("iconUrl"),
        allow_signup=entry.get("allowSignup", False),
        allowed_domains=_strings(entry.get("allowedDomains", []), "allowedDomains"),
        admin_claim=entry.get("adminClaim"),
        enabled=entry.get("enabled", True),
    )


def _identity_providers(env: Mapping[str, str]) -> tuple[ConfiguredProvider, ...]:
    """A JSON array of provider objects, or the path of a file holding one (read once, at
    start). Slugs must be unique."""
    raw = _get(env, "IDENTITY_PROVIDERS")
    if raw is None:
        return ()
    if not raw.lstrip().startswith("["):
        try:
            raw = Path(raw).read_text()
        except OSError as exc:
            raise ConfigError("IDENTITY_PROVIDERS", f"cannot read {raw}: {exc.strerror}") from None
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        raise ConfigError("IDENTITY_PROVIDERS", f"not valid JSON: {exc}") from None
    if not isinstance(entries, list):
        raise ConfigError("IDENTITY_PROVIDERS", "expected a JSON array of providers")
    providers = tuple(_identity_provider(e, n) for n, e in enumerate(entries, 1))
    slugs = [p.slug for p in providers]
    if len(set(slugs)) != len(slugs):
        raise ConfigError("IDENTITY_PROVIDERS", "two providers have the same slug")
    return providers


def _redirect_uris(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = _get(env, "OIDC_REDIRECT_URIS")
    if raw is None:
        return ()
    uris = tuple(u.strip() for u in raw.split(",") if u.strip())
    for uri in uris:
        parts = urlsplit(uri)
        if not parts.scheme or (parts.scheme in ("http", "https") and not parts.hostname):
            raise ConfigError("OIDC_REDIRECT_URIS", f"not an absolute URI: {uri!r}")
    return uris


class _HistorySettings(TypedDict):
    retention_security_events_seconds: int
    export_ttl_seconds: int
    export_max_per_day: int


def _history(env: Mapping[str, str]) -> _HistorySettings:
    """Security events and data exports (``STRIDEGRAPH_RETENTION_SECURITY_EVENTS``,
    ``STRIDEGRAPH_EXPORT_TTL``, ``STRIDEGRAPH_EXPORT_MAX_PER_DAY``)."""
    day = 24 * 3600
    return {
        "retention_security_events_seconds": _int(
            env, "RETENTION_SECURITY_EVENTS", 365 * day, minimum=day
        ),
        "export_ttl_seconds": _int(env, "EXPORT_TTL", 7 * day, minimum=60),
        "export_max_per_day": _int(env, "EXPORT_MAX_PER_DAY", 3, minimum=1),
    }
