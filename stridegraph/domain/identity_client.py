"""The OpenID Connect relying party: discovery, JWKS, the authorization URL, the code
exchange and ID-token validation, for the authorization code flow with PKCE (S256), state
and nonce.

The JOSE work (JWKS parsing, signature check, claim checks) is joserfc's; PKCE's challenge
and the ``at_hash`` half-hash are Authlib's; HTTP is httpx with a timeout on every call.
Nothing here touches the database: ``domain/identity.py`` owns the rules.

Discovery documents and key sets are cached per issuer for ``cache_seconds`` (a bounded
lifetime, so a provider's changes are seen without a restart). An ID token signed with a key
id the cached set lacks makes one fresh fetch of the JWKS: that is how a provider's key
rotation is followed, and it costs at most one extra request per sign-in.

A provider that cannot be reached, times out or answers garbage raises
:class:`ProviderUnavailable`; a provider that refuses (a bad or spent code) or a token that
fails a check raises :class:`ProviderRefused`.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from joserfc import jwt
    from joserfc.jwk import KeySet

# httpx, joserfc and Authlib are imported by the methods that use them, on
# first use, not at start-up: together about 5 MB of every worker's memory, and a deployment
# without an identity provider never needs them. (Memory, not an import cycle.)

#: Signature algorithms accepted for ID tokens (never ``none``, never a symmetric one).
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
#: Clock skew tolerated between us and the provider, in seconds.
LEEWAY_SECONDS = 60
#: A provider's answer larger than this is refused (bounded work).
MAX_RESPONSE_BYTES = 512 * 1024


class ProviderUnavailable(Exception):
    """The provider could not be reached or gave an unusable answer."""


class ProviderRefused(Exception):
    """The provider refused the code, or its ID token failed a check (``reason`` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Client:
    """What the relying party needs to know of one provider."""

    issuer: str
    client_id: str
    client_secret: str
    scopes: str


@dataclass(frozen=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass
class _Cached:
    value: Any
    fetched_at: float


@dataclass
class OidcClient:
    """Process-wide: the caches of discovery documents and key sets, per issuer."""

    timeout_seconds: float = 10.0
    cache_seconds: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    #: The configured providers have been written as rows (``identity_providers``).
    configuration_synced: bool = False
    _discovery: dict[str, _Cached] = field(default_factory=dict)
    _jwks: dict[str, _Cached] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def configure(self, *, timeout_seconds: float, cache_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self.cache_seconds = cache_seconds

    def _fresh(self, cached: _Cached | None) -> bool:
        return cached is not None and self.clock() - cached.fetched_at < self.cache_seconds

    async def _get_json(self, url: str) -> dict[str, Any]:
        import httpx  # first use: memory (see the note at the top)

        try:
            async with httpx.AsyncClient(timeout=self.timeout_seconds) as http:
                response = await http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{type(exc).__name__} fetching {url}") from None
        return _json_body(response, url)

    async def discover(self, issuer: str) -> Discovery:
        """The issuer's discovery document (cached), checked to name that issuer."""
        cached = self._discovery.get(issuer)
        if self._fresh(cached):
            assert cached is not None
            return cached.value
        lock = self._locks.setdefault(issuer, asyncio.Lock())
        async with lock:  # one fetch per issuer at a time; the others use its result
            cached = self._discovery.get(issuer)
            if self._fresh(cached):
                assert cached is not None
                return cached.value
            doc = await self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
            try:
                found = Discovery(
                    issuer=str(doc["issuer"]),
                    authorization_endpoint=str(doc["authorization_endpoint"]),
                    token_endpoint=str(doc["token_endpoint"]),
                    jwks_uri=str(doc["jwks_uri"]),
                )
            except KeyError as exc:
                raise ProviderUnavailable(f"discovery document lacks {exc}") from None
            if found.issuer.rstrip("/") != issuer.rstrip("/"):
                raise ProviderUnavailable("discovery document names another issuer")
            self._discovery[issuer] = _Cached(found, self.clock())
            return found

    async def _key_set(self, discovery: Discovery, *, refresh: bool = False) -> KeySet:
        # first use: memory (see the note at the top)
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        cached = self._jwks.get(discovery.jwks_uri)
        if not refresh and self._fresh(cached):
            assert cached is not None
            return cached.value
        doc = await self._get_json(discovery.jwks_uri)
        try:
            keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise ProviderUnavailable("the provider's JWKS is not a usable key set") from None
        self._jwks[discovery.jwks_uri] = _Cached(keys, self.clock())
        return keys

    async def authorization_url(
        self,
        client: Client,
        *,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_verifier: str,
    ) -> str:
        """Where to send the browser: the provider's authorization endpoint with the code
        flow's parameters (PKCE S256 from ``code_verifier``)."""
        # first use: memory (see the note at the top)
        from authlib.common.urls import add_params_to_uri
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        discovery = await self.discover(client.issuer)
        params = [
            ("response_type", "code"),
            ("client_id", client.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", client.scopes),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", create_s256_code_challenge(code_verifier)),
            ("code_challenge_method", "S256"),
        ]
        return add_params_to_uri(discovery.authorization_endpoint, params)

    async def exchange(
        self,
        client: Client,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        nonce: str,
        now: float,
    ) -> dict[str, Any]:
        """Trade ``code`` for tokens and return the validated ID token's claims."""
        import httpx  # first use: memory (see the note at the top)

        discovery = await self.discover(client.issuer)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout_seconds) as http:
                response = await http.post(
                    discovery.token_endpoint,
                    data=form,
                    auth=(client.client_id, client.client_secret),
                    headers={"Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{type(exc).__name__} at the token endpoint") from None
        if 400 <= response.status_code < 500:
            raise ProviderRefused("the provider refused the authorization code")
        tokens = _json_body(response, discovery.token_endpoint)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderRefused("the provider sent no ID token")
        access_token = tokens.get("access_token")
        return await self.validate_id_token(
            client,
            discovery,
            id_token=id_token,
            nonce=nonce,
            access_token=access_token if isinstance(access_token, str) else None,
            now=now,
        )

    async def validate_id_token(
        self,
        client: Client,
        discovery: Discovery,
        *,
        id_token: str,
        nonce: str,
        access_token: str | None,
        now: float,
    ) -> dict[str, Any]:
        """Signature (the provider's JWKS, refetched once for an unknown key id), then
        issuer, audience (and ``azp`` when several), expiry, issue time, nonce and
        ``at_hash`` when present."""
        # first use: memory (see the note at the top)
        from authlib.oidc.core.util import create_half_hash
        from joserfc import jwt
        from joserfc.errors import JoseError

        keys = await self._key_set(discovery)
        try:
            token = _decode(id_token, keys)
        except _UnknownKey:
            keys = await self._key_set(discovery, refresh=True)  # rotated keys
            try:
                token = _decode(id_token, keys)
            except _UnknownKey:
                raise ProviderRefused("the ID token is signed with an unknown key") from None
        claims = token.claims
        registry = jwt.JWTClaimsRegistry(
            now=int(now),
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": discovery.issuer},
            sub={"essential": True},
            aud={"essential": True, "value": client.client_id},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise ProviderRefused(f"the ID token failed a check: {exc.error}") from None
        audience = claims.get("aud")
        if (
            isinstance(audience, list)
            and len(audience) > 1
            and claims.get("azp") != client.client_id
        ):
            raise ProviderRefused("the ID token was issued to another client")
        if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(
            claims["nonce"], nonce
        ):
            raise ProviderRefused("the ID token's nonce is not this sign-in's")
        at_hash = claims.get("at_hash")
        if at_hash is not None and access_token is not None:
            expected = create_half_hash(access_token, token.header.get("alg", ""))
            if expected is None or not hmac.compare_digest(str(at_hash), expected.decode()):
                raise ProviderRefused("the ID token's at_hash does not match the access token")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise ProviderRefused("the ID token has no subject")
        return dict(claims)


class _UnknownKey(Exception):
    pass


def _decode(id_token: str, keys: KeySet) -> jwt.Token:
    # first use: memory (see the note at the top)
    from joserfc import jwt
    from joserfc.errors import InvalidKeyIdError, JoseError

    try:
        return jwt.decode(id_token, keys, algorithms=list(ID_TOKEN_ALGORITHMS))
    except InvalidKeyIdError:
        raise _UnknownKey from None
    except (JoseError, ValueError):
        raise ProviderRefused("the ID token's signature is not valid") from None


def _json_body(response: httpx.Response, url: str) -> dict[str, Any]:
    if response.status_code >= 500:
        raise ProviderUnavailable(f"HTTP {response.status_code} from {url}")
    if len(response.content) > MAX_RESPONSE_BYTES:
        raise ProviderUnavailable(f"an oversized answer from {url}")
    try:
        body = response.json()
    except ValueError:
        raise ProviderUnavailable(f"no JSON from {url}") from None
    if not isinstance(body, dict) or response.status_code >= 400:
        raise ProviderUnavailable(f"HTTP {response.status_code} from {url}")
    return body
