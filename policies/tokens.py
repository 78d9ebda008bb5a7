"""Access tokens: issuing our own (RFC 9068 JWTs) and verifying ours and trusted issuers'.

Verification is strict where RFC 9068 and RFC 8725 say so: an asymmetric algorithm from a
short allow-list (never ``none`` or an HMAC, so a public key can never be abused as a shared
secret), ``typ`` ``at+jwt``, a ``kid`` naming a published key, the exact issuer, our
audience, and a live ``exp``/``nbf``. A verified token is remembered until it expires, so its
signature is checked once; whether its client is still active is checked on every call, from
the registry's own short cache.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from typing import Any

import httpx
import msgspec
from joserfc import jwk, jws
from joserfc.errors import BadSignatureError, JoseError

from policies.clients import SCOPE_PATTERN, ClientRecord, ClientRegistry
from policies.config import AuthConfig, TrustedIssuer
from policies.keys import Key, KeyStore

__all__ = [
    "ACCEPTED_ALGORITHMS",
    "AuthenticationFailed",
    "InvalidScopeError",
    "IssuedToken",
    "Principal",
    "TokenService",
]

logger = logging.getLogger("finrail.tokens")

ACCEPTED_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
"""Signature algorithms accepted on tokens: asymmetric only."""

ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})
"""``typ`` values of an RFC 9068 access token (compared case-insensitively)."""

MAX_TOKEN_LENGTH = 8192
"""Longer strings are refused before any parsing."""

JWKS_REFETCH_SECONDS = 30.0
"""Least time between two fetches of a trusted issuer's JWKS prompted by an unknown ``kid``."""

KEY_REFRESH_SECONDS = 30.0
"""Longest time the token endpoint signs with a key another process may have retired."""

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class AuthenticationFailed(Exception):  # noqa: N818 (the name the gateway uses)
    """A token was refused; ``detail`` says why in words safe to show the caller."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidScopeError(Exception):
    """A client asked for scopes it was not granted (OAuth2 ``invalid_scope``)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who a verified token speaks for."""

    client_id: str
    """The OAuth2 client the token was issued to."""
    subject: str | None
    """The portal subject (supplier, employee) when ``sub`` is not the client itself."""
    scopes: frozenset[str]
    """Granted scopes."""
    tier: str | None
    """SLA tier of the client (our tokens carry it; external ones may not)."""
    issuer: str
    """``iss`` of the token."""
    expires_at: int
    """``exp`` of the token (Unix time)."""
    jti: str | None
    """Unique id of the token."""
    audience: tuple[str, ...] = ()
    """``aud`` of the token."""
    issued_at: int | None = None
    """``iat`` of the token (Unix time)."""
    sub: str | None = None
    """``sub`` claim exactly as in the token."""


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A successful token response (RFC 6749 §5.1)."""

    access_token: str
    """The access token: an RFC 9068 JWT signed with the key published in the JWKS."""
    token_type: str = "Bearer"  # noqa: S105 (a token type, not a secret)
    """Always ``Bearer`` (RFC 6750)."""
    expires_in: int
    """Seconds until the token expires."""
    scope: str
    """Granted scopes, space separated."""


class _JWKSDocument(msgspec.Struct):
    keys: list[dict[str, Any]]


class _RemoteKeys:
    """The JWKS of one trusted issuer, fetched lazily and again when a token names a new kid."""

    def __init__(self, trusted: TrustedIssuer, http: httpx.AsyncClient, default_audience: str) -> None:
        self.issuer = trusted.issuer
        self.url = trusted.jwks_url
        self.audience = trusted.audience or default_audience
        self.http = http
        self._keys: dict[str, Key] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> Key | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        if time.monotonic() - self._fetched_at < JWKS_REFETCH_SECONDS:
            return None
        async with self._lock:
            if time.monotonic() - self._fetched_at >= JWKS_REFETCH_SECONDS:
                await self._fetch()
        return self._keys.get(kid)

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            response = await self.http.get(self.url, headers={"accept": "application/json"})
            response.raise_for_status()
            document = msgspec.json.decode(response.content, type=_JWKSDocument)
        except (httpx.HTTPError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            logger.warning("cannot fetch the JWKS of issuer %s from %s: %s", self.issuer, self.url, exc)
            return
        keys: dict[str, Key] = {}
        for item in document.keys:
            kid = item.get("kid")
            usable = item.get("kty") in {"EC", "RSA"} and item.get("use", "sig") == "sig"
            if not isinstance(kid, str) or not usable:
                continue
            try:
                key = jwk.import_key({k: v for k, v in item.items() if k not in _PRIVATE_MEMBERS})
            except (JoseError, ValueError, TypeError) as exc:
                logger.warning("skipping key %s of trusted issuer %s: %s", kid, self.issuer, exc)
                continue
            if isinstance(key, jwk.ECKey | jwk.RSAKey):
                keys[kid] = key
        self._keys = keys


def _numeric(claims: dict[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthenticationFailed(f"the token's {name} claim is not a number")
    return int(value)


class TokenService:
    """Issues Finrail's access tokens and verifies every bearer token the gateway receives."""

    def __init__(
        self,
        keys: KeyStore,
        clients: ClientRegistry,
        config: AuthConfig,
        http: httpx.AsyncClient,
    ) -> None:
        """Create the service.

        Args:
            keys: Our signing keys.
            clients: The client registry (for the per-call status check).
            config: Issuer, audience, lifetimes, cache size and trusted issuers.
            http: Shared HTTP client used to fetch trusted issuers' JWKS.
        """
        self.keys = keys
        self.clients = clients
        self.config = config
        self.http = http
        self._remote = {t.issuer: _RemoteKeys(t, http, config.audience) for t in config.trusted_issuers}
        self._cache: OrderedDict[str, Principal] = OrderedDict()

    async def issue(self, client: ClientRecord, scope: str | None) -> IssuedToken:
        """Issue an access token to an authenticated client.

        Args:
            client: The client, already authenticated and active.
            scope: Requested scopes, space separated; all of the client's scopes when empty.

        Raises:
            InvalidScopeError: A requested scope is malformed or not granted to the client.
        """
        requested = tuple(dict.fromkeys(scope.split())) if scope and scope.strip() else client.scopes
        malformed = [s for s in requested if not SCOPE_PATTERN.match(s)]
        if malformed:
            raise InvalidScopeError("scope must be scope tokens separated by single spaces")
        missing = sorted(set(requested) - set(client.scopes))
        if missing:
            raise InvalidScopeError(f"scope not granted to this client: {' '.join(missing)}")
        await self.keys.refresh_if_stale(KEY_REFRESH_SECONDS)
        now = int(time.time())
        granted = " ".join(requested)
        claims: dict[str, Any] = {
            "iss": self.config.issuer,
            "aud": self.config.audience,
            "sub": client.subject or client.client_id,
            "client_id": client.client_id,
            "scope": granted,
            "iat": now,
            "exp": now + self.config.token_ttl_seconds,
            "jti": secrets.token_urlsafe(16),
            "tier": client.tier,
        }
        return IssuedToken(
            access_token=self.keys.sign(claims),
            expires_in=self.config.token_ttl_seconds,
            scope=granted,
        )

    async def verify(self, token: str) -> Principal:
        """Verify a bearer token and say whom it speaks for.

        Raises:
            AuthenticationFailed: The token is malformed, forged, expired, not for us, or its
                client is no longer active.
        """
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
            if now >= cached.expires_at + self.config.leeway_seconds:
                self._cache.pop(token, None)
                raise AuthenticationFailed("the token has expired")
            self._cache.move_to_end(token)
            await self._check_client(cached)
            return cached
        principal = await self._verify_signed(token, now)
        await self._check_client(principal)
        if self.config.token_cache_size > 0:
            self._cache[token] = principal
            while len(self._cache) > self.config.token_cache_size:
                self._cache.popitem(last=False)
        return principal

    async def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 introspection: the token's claims if it is active, else ``{"active": False}``."""
        try:
            principal = await self.verify(token)
        except AuthenticationFailed:
            return {"active": False}
        result: dict[str, Any] = {
            "active": True,
            "scope": " ".join(sorted(principal.scopes)),
            "client_id": principal.client_id,
            "sub": principal.sub or principal.client_id,
            "exp": principal.expires_at,
            "iss": principal.issuer,
            "aud": list(principal.audience),
            "token_type": "Bearer",
        }
        if principal.issued_at is not None:
            result["iat"] = principal.issued_at
        if principal.jti is not None:
            result["jti"] = principal.jti
        return result

    async def _check_client(self, principal: Principal) -> None:
        if principal.issuer != self.config.issuer:
            return
        if await self.clients.active(principal.client_id) is None:
            raise AuthenticationFailed("the client this token was issued to is disabled or unknown")

    async def _verify_signed(self, token: str, now: float) -> Principal:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationFailed("the token is empty or too long")
        try:
            compact = jws.extract_compact(token.encode("ascii"))
            header = compact.headers()
            claims = msgspec.json.decode(compact.payload)
        except (JoseError, ValueError, msgspec.DecodeError):
            raise AuthenticationFailed("the token is not a well-formed JWT") from None
        if not isinstance(claims, dict):
            raise AuthenticationFailed("the token's payload is not a JSON object")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise AuthenticationFailed("unsigned tokens (alg none) are not accepted")
        if alg not in ACCEPTED_ALGORITHMS:
            shown = alg if alg.isascii() and alg.isalnum() and len(alg) <= 16 else "this algorithm"
            raise AuthenticationFailed(f"tokens signed with {shown} are not accepted; use an asymmetric key")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES:
            raise AuthenticationFailed("the token is not an access token: its typ header must be at+jwt")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationFailed("the token header names no signing key (kid)")
        issuer = claims.get("iss")
        if issuer == self.config.issuer:
            key = await self.keys.public_key(kid)
            audience = self.config.audience
        elif isinstance(issuer, str) and issuer in self._remote:
            remote = self._remote[issuer]
            key = await remote.key(kid)
            audience = remote.audience
        else:
            raise AuthenticationFailed("the token's issuer is not trusted")
        if key is None:
            raise AuthenticationFailed("the token is signed with an unknown key (kid)")
        if key.alg is not None and key.alg != alg:
            raise AuthenticationFailed("the token's algorithm does not match its signing key")
        try:
            jws.deserialize_compact(token, key, algorithms=[alg])
        except BadSignatureError:
            raise AuthenticationFailed("the token's signature is invalid") from None
        except JoseError:
            raise AuthenticationFailed("the token cannot be verified with its signing key") from None
        return self._principal(claims, issuer, audience, now)

    def _principal(self, claims: dict[str, Any], issuer: str, audience: str, now: float) -> Principal:
        leeway = self.config.leeway_seconds
        expires_at = _numeric(claims, "exp")
        if expires_at is None:
            raise AuthenticationFailed("the token has no exp claim")
        if now >= expires_at + leeway:
            raise AuthenticationFailed("the token has expired")
        not_before = _numeric(claims, "nbf")
        if not_before is not None and now + leeway < not_before:
            raise AuthenticationFailed("the token is not valid yet (nbf)")
        issued_at = _numeric(claims, "iat")
        if issued_at is not None and now + leeway < issued_at:
            raise AuthenticationFailed("the token was issued in the future (iat)")
        aud = claims.get("aud")
        if isinstance(aud, str):
            audiences: tuple[str, ...] = (aud,)
        elif isinstance(aud, list):
            audiences = tuple(a for a in aud if isinstance(a, str))
        else:
            audiences = ()
        if audience not in audiences:
            raise AuthenticationFailed("the token is not meant for this API (aud)")
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise AuthenticationFailed("the token has no client_id claim")
        sub = claims.get("sub")
        sub = sub if isinstance(sub, str) else None
        scope = claims.get("scope")
        if isinstance(scope, str):
            scopes = frozenset(scope.split())
        elif isinstance(claims.get("scp"), list):
            scopes = frozenset(s for s in claims["scp"] if isinstance(s, str))
        else:
            scopes = frozenset()
        tier = claims.get("tier")
        jti = claims.get("jti")
        return Principal(
            client_id=client_id,
            subject=sub if sub is not None and sub != client_id else None,
            scopes=scopes,
            tier=tier if isinstance(tier, str) else None,
            issuer=issuer,
            expires_at=expires_at,
            jti=jti if isinstance(jti, str) else None,
            audience=audiences,
            issued_at=issued_at,
            sub=sub,
        )
