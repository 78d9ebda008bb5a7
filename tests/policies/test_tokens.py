from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from argon2 import PasswordHasher
from joserfc import jwk, jws
from sqlalchemy.ext.asyncio import AsyncEngine

import policies.tokens
from policies.clients import ClientRecord, ClientRegistry
from policies.config import AuthConfig, TrustedIssuer
from policies.keys import KeyStore
from policies.tables import signing_keys
from policies.tokens import AuthenticationFailed, InvalidScopeError, TokenService

ISSUER = "https://finrail.test"
AUDIENCE = "finrail"
EXTERNAL = "https://idp.example"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


@dataclass
class Setup:
    keys: KeyStore
    clients: ClientRegistry
    tokens: TokenService
    client: ClientRecord
    private_key: jwk.ECKey
    engine: AsyncEngine
    extra: dict[str, Any] = field(default_factory=dict)

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": self.client.client_id,
            "client_id": self.client.client_id,
            "scope": "erp:read",
            "iat": now,
            "exp": now + 300,
            "jti": "j1",
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def forge(self, claims: dict[str, Any], **header: Any) -> str:
        """A token signed with our real signing key but with the given header and claims."""
        protected = {"alg": "ES256", "typ": "at+jwt", "kid": self.keys.active_kid, **header}
        protected = {k: v for k, v in protected.items() if v is not None}
        return jws.serialize_compact(protected, json.dumps(claims), self.private_key, algorithms=["ES256"])


def cheap_registry(engine: AsyncEngine, cache_seconds: float = 60) -> ClientRegistry:
    return ClientRegistry(
        engine,
        cache_seconds=cache_seconds,
        hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
    )


async def make_setup(engine: AsyncEngine, **config: Any) -> tuple[Setup, httpx.AsyncClient]:
    keys = KeyStore(engine, algorithm="ES256", token_ttl_seconds=300)
    await keys.start()
    registry = cheap_registry(engine)
    client, _ = await registry.create("ledger", ["erp:read", "erp:write"], "gold")
    http = httpx.AsyncClient()
    auth = AuthConfig(issuer=ISSUER, audience=AUDIENCE, token_ttl_seconds=300, leeway_seconds=5, **config)
    async with engine.connect() as conn:
        private = (await conn.execute(sa.select(signing_keys.c.private_jwk))).scalar_one()
    key = jwk.import_key(json.loads(private))
    assert isinstance(key, jwk.ECKey)
    return Setup(keys, registry, TokenService(keys, registry, auth, http), client, key, engine), http


@pytest.fixture
async def setup(engine: AsyncEngine) -> AsyncIterator[Setup]:
    built, http = await make_setup(engine)
    yield built
    await http.aclose()


async def refused(setup: Setup, token: str, reason: str) -> None:
    """The token is refused for ``reason``, and introspection says exactly inactive."""
    with pytest.raises(AuthenticationFailed, match=reason):
        await setup.tokens.verify(token)
    assert await setup.tokens.introspect(token) == {"active": False}


# --- issuing -----------------------------------------------------------------------------


async def test_issued_token_follows_rfc_9068(setup: Setup) -> None:
    issued = await setup.tokens.issue(setup.client, "erp:read")
    assert issued.token_type == "Bearer"
    assert issued.expires_in == 300
    assert issued.scope == "erp:read"
    compact = jws.extract_compact(issued.access_token.encode())
    assert compact.headers() == {"alg": "ES256", "typ": "at+jwt", "kid": setup.keys.active_kid}
    claims = json.loads(compact.payload)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == setup.client.client_id
    assert claims["client_id"] == setup.client.client_id
    assert claims["scope"] == "erp:read"
    assert claims["tier"] == "gold"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"]
    second = await setup.tokens.issue(setup.client, "erp:read")
    assert json.loads(jws.extract_compact(second.access_token.encode()).payload)["jti"] != claims["jti"]

    principal = await setup.tokens.verify(issued.access_token)
    assert principal.client_id == setup.client.client_id
    assert principal.scopes == frozenset({"erp:read"})
    assert principal.tier == "gold"
    assert principal.subject is None
    assert principal.issuer == ISSUER
    assert principal.expires_at == claims["exp"]


async def test_without_scope_the_client_gets_all_its_scopes(setup: Setup) -> None:
    issued = await setup.tokens.issue(setup.client, None)
    assert issued.scope == "erp:read erp:write"
    assert (await setup.tokens.verify(issued.access_token)).scopes == {"erp:read", "erp:write"}


async def test_scopes_beyond_the_clients_are_refused(setup: Setup) -> None:
    with pytest.raises(InvalidScopeError, match="admin:clients:write"):
        await setup.tokens.issue(setup.client, "erp:read admin:clients:write")


async def test_a_portal_client_token_carries_its_subject(setup: Setup) -> None:
    portal, _ = await setup.clients.create("portal", ["supplier:read"], "silver", subject="SUP-42")
    issued = await setup.tokens.issue(portal, None)
    principal = await setup.tokens.verify(issued.access_token)
    assert principal.subject == "SUP-42"
    assert (await setup.tokens.introspect(issued.access_token))["sub"] == "SUP-42"


# --- rejections --------------------------------------------------------------------------


async def test_alg_none_is_refused(setup: Setup) -> None:
    token = unsigned({"alg": "none", "typ": "at+jwt", "kid": setup.keys.active_kid}, setup.claims())
    await refused(setup, token, "alg none")


async def test_hmac_signed_with_the_public_key_is_refused(setup: Setup) -> None:
    public_pem = setup.private_key.as_pem(private=False)
    header = {"alg": "HS256", "typ": "at+jwt", "kid": setup.keys.active_kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(setup.claims()).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    await refused(setup, f"{signing_input}.{b64(signature)}", "HS256 are not accepted")


async def test_missing_typ_is_refused(setup: Setup) -> None:
    await refused(setup, setup.forge(setup.claims(), typ=None), "typ")


async def test_wrong_typ_is_refused(setup: Setup) -> None:
    await refused(setup, setup.forge(setup.claims(), typ="JWT"), "typ")


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
async def test_both_spellings_of_the_access_token_type_are_accepted(setup: Setup, typ: str) -> None:
    assert (await setup.tokens.verify(setup.forge(setup.claims(), typ=typ))).jti == "j1"


async def test_wrong_issuer_is_refused(setup: Setup) -> None:
    await refused(setup, setup.forge(setup.claims(iss=ISSUER + "/")), "issuer is not trusted")


async def test_wrong_audience_is_refused(setup: Setup) -> None:
    await refused(setup, setup.forge(setup.claims(aud="another-api")), "aud")
    await refused(setup, setup.forge(setup.claims(aud=None)), "aud")


async def test_an_audience_list_containing_ours_is_accepted(setup: Setup) -> None:
    principal = await setup.tokens.verify(setup.forge(setup.claims(aud=["other", AUDIENCE])))
    assert principal.audience == ("other", AUDIENCE)


async def test_expired_token_is_refused(setup: Setup) -> None:
    now = int(time.time())
    await refused(setup, setup.forge(setup.claims(iat=now - 400, exp=now - 10)), "expired")
    await refused(setup, setup.forge(setup.claims(exp=None)), "no exp")


async def test_leeway_tolerates_small_clock_skew(setup: Setup) -> None:
    now = int(time.time())
    assert await setup.tokens.verify(setup.forge(setup.claims(exp=now - 2)))


async def test_not_yet_valid_token_is_refused(setup: Setup) -> None:
    now = int(time.time())
    await refused(setup, setup.forge(setup.claims(nbf=now + 60)), "not valid yet")
    await refused(setup, setup.forge(setup.claims(iat=now + 60)), "issued in the future")


async def test_unknown_kid_is_refused(setup: Setup) -> None:
    await refused(setup, setup.forge(setup.claims(), kid="not-a-published-key"), "unknown key")
    await refused(setup, setup.forge(setup.claims(), kid=None), "kid")


async def test_bad_signature_is_refused(setup: Setup) -> None:
    impostor = jwk.ECKey.generate_key("P-256", private=True)
    header = {"alg": "ES256", "typ": "at+jwt", "kid": setup.keys.active_kid}
    token = jws.serialize_compact(header, json.dumps(setup.claims()), impostor, algorithms=["ES256"])
    await refused(setup, token, "signature is invalid")


async def test_garbage_is_refused(setup: Setup) -> None:
    await refused(setup, "", "empty or too long")
    await refused(setup, "x" * 10_000, "empty or too long")
    await refused(setup, "abc", "not a well-formed JWT")
    await refused(setup, "a.b.c", "not a well-formed JWT")
    await refused(setup, unsigned({"alg": "ES256"}, {}).rstrip(".") + ".sig", "typ")


async def test_token_of_a_disabled_client_is_refused_even_when_cached(setup: Setup) -> None:
    issued = await setup.tokens.issue(setup.client, None)
    await setup.tokens.verify(issued.access_token)
    await setup.clients.disable(setup.client.client_id)
    await refused(setup, issued.access_token, "disabled or unknown")


async def test_token_of_an_unknown_client_is_refused(setup: Setup) -> None:
    await refused(setup, setup.forge(setup.claims(client_id="cl_gone", sub="cl_gone")), "disabled or unknown")


# --- cache -------------------------------------------------------------------------------


async def test_a_verified_token_is_not_checked_again(setup: Setup) -> None:
    looked_up: list[str] = []
    original = setup.keys.public_key

    async def counting(kid: str) -> Any:
        looked_up.append(kid)
        return await original(kid)

    setup.keys.public_key = counting  # type: ignore[method-assign]
    issued = await setup.tokens.issue(setup.client, None)
    first = await setup.tokens.verify(issued.access_token)
    second = await setup.tokens.verify(issued.access_token)
    assert second == first
    assert len(looked_up) == 1
    other = await setup.tokens.issue(setup.client, "erp:read")
    await setup.tokens.verify(other.access_token)
    assert len(looked_up) == 2


async def test_the_cache_is_bounded(engine: AsyncEngine) -> None:
    built, http = await make_setup(engine, token_cache_size=2)
    try:
        looked_up: list[str] = []
        original = built.keys.public_key

        async def counting(kid: str) -> Any:
            looked_up.append(kid)
            return await original(kid)

        built.keys.public_key = counting  # type: ignore[method-assign]
        tokens = [(await built.tokens.issue(built.client, None)).access_token for _ in range(3)]
        for token in tokens:
            await built.tokens.verify(token)
        await built.tokens.verify(tokens[2])  # recent: cached
        await built.tokens.verify(tokens[0])  # evicted: checked again
        assert len(looked_up) == 4
    finally:
        await http.aclose()


# --- introspection -----------------------------------------------------------------------


async def test_introspection_of_an_active_token(setup: Setup) -> None:
    issued = await setup.tokens.issue(setup.client, "erp:write")
    claims = json.loads(jws.extract_compact(issued.access_token.encode()).payload)
    assert await setup.tokens.introspect(issued.access_token) == {
        "active": True,
        "scope": "erp:write",
        "client_id": setup.client.client_id,
        "sub": setup.client.client_id,
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": ISSUER,
        "aud": [AUDIENCE],
        "token_type": "Bearer",
        "jti": claims["jti"],
    }


# --- trusted external issuers ------------------------------------------------------------


class JwksServer:
    """A real HTTP server publishing a JWK Set that the test can change."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.requests = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.socket = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/jwks.json"
        config = uvicorn.Config(
            self.app, interface="asgi3", lifespan="off", log_level="warning", ws="none", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.requests += 1
        found = scope["path"] == "/jwks.json"
        body = json.dumps({"keys": self.keys}).encode() if found else b"{}"
        await send(
            {
                "type": "http.response.start",
                "status": 200 if found else 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("JWKS server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.start()
    yield server
    server.stop()


def external_token(key: jwk.RSAKey, kid: str, issuer: str = EXTERNAL, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": "user-17",
        "client_id": "partner-app",
        "scope": "erp:read",
        "iat": now,
        "exp": now + 300,
        "jti": "ext-1",
        **claims,
    }
    header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
    return jws.serialize_compact(header, json.dumps(body), key, algorithms=["RS256"])


def publish(server: JwksServer, key: jwk.RSAKey, kid: str) -> None:
    server.keys.append({**key.as_dict(private=False), "kid": kid, "alg": "RS256", "use": "sig"})


async def test_tokens_of_a_trusted_issuer_verify(engine: AsyncEngine, jwks_server: JwksServer) -> None:
    key = jwk.RSAKey.generate_key(2048, private=True)
    publish(jwks_server, key, "ext-1")
    built, http = await make_setup(
        engine, trusted_issuers=(TrustedIssuer(issuer=EXTERNAL, jwks_url=jwks_server.url),)
    )
    try:
        principal = await built.tokens.verify(external_token(key, "ext-1"))
        assert principal.issuer == EXTERNAL
        assert principal.client_id == "partner-app"
        assert principal.subject == "user-17"
        assert principal.scopes == {"erp:read"}
        assert principal.tier is None
        # Our own tokens keep working next to the external ones.
        assert await built.tokens.verify((await built.tokens.issue(built.client, None)).access_token)

        # Another issuer signing with the very same key is still not trusted.
        with pytest.raises(AuthenticationFailed, match="issuer is not trusted"):
            await built.tokens.verify(external_token(key, "ext-1", issuer="https://evil.example"))
        # The trusted issuer's name on a token signed with another key fails the signature.
        impostor = jwk.RSAKey.generate_key(2048, private=True)
        with pytest.raises(AuthenticationFailed, match="signature is invalid"):
            await built.tokens.verify(external_token(impostor, "ext-1", jti="ext-2"))
        with pytest.raises(AuthenticationFailed, match="aud"):
            await built.tokens.verify(external_token(key, "ext-1", aud="someone-else"))
        assert jwks_server.requests == 1
    finally:
        await http.aclose()


async def test_an_issuer_specific_audience_is_enforced(engine: AsyncEngine, jwks_server: JwksServer) -> None:
    key = jwk.RSAKey.generate_key(2048, private=True)
    publish(jwks_server, key, "ext-1")
    trusted = TrustedIssuer(issuer=EXTERNAL, jwks_url=jwks_server.url, audience="api://finrail")
    built, http = await make_setup(engine, trusted_issuers=(trusted,))
    try:
        assert await built.tokens.verify(external_token(key, "ext-1", aud="api://finrail"))
        with pytest.raises(AuthenticationFailed, match="aud"):
            await built.tokens.verify(external_token(key, "ext-1", jti="other"))
    finally:
        await http.aclose()


async def test_a_new_external_kid_triggers_a_refetch(
    engine: AsyncEngine, jwks_server: JwksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = jwk.RSAKey.generate_key(2048, private=True)
    publish(jwks_server, first, "ext-1")
    built, http = await make_setup(
        engine, trusted_issuers=(TrustedIssuer(issuer=EXTERNAL, jwks_url=jwks_server.url),)
    )
    try:
        assert await built.tokens.verify(external_token(first, "ext-1"))
        second = jwk.RSAKey.generate_key(2048, private=True)
        publish(jwks_server, second, "ext-2")
        # Within the refetch interval an unknown kid does not hammer the issuer.
        with pytest.raises(AuthenticationFailed, match="unknown key"):
            await built.tokens.verify(external_token(second, "ext-2"))
        assert jwks_server.requests == 1
        monkeypatch.setattr(policies.tokens, "JWKS_REFETCH_SECONDS", 0.0)
        assert (await built.tokens.verify(external_token(second, "ext-2", jti="x"))).jti == "x"
        assert jwks_server.requests == 2
    finally:
        await http.aclose()


async def test_an_unreachable_jwks_refuses_the_token(engine: AsyncEngine) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    trusted = TrustedIssuer(issuer=EXTERNAL, jwks_url=f"http://127.0.0.1:{port}/jwks.json")
    built, http = await make_setup(engine, trusted_issuers=(trusted,))
    try:
        key = jwk.RSAKey.generate_key(2048, private=True)
        with pytest.raises(AuthenticationFailed, match="unknown key"):
            await built.tokens.verify(external_token(key, "ext-1"))
    finally:
        await http.aclose()


async def test_rs256_tokens_round_trip(engine: AsyncEngine) -> None:
    keys = KeyStore(engine, algorithm="RS256", token_ttl_seconds=300)
    await keys.start()
    registry = cheap_registry(engine)
    client, _ = await registry.create("rsa-user", ["erp:read"], "bronze")
    async with httpx.AsyncClient() as http:
        service = TokenService(keys, registry, AuthConfig(issuer=ISSUER, algorithm="RS256"), http)
        issued = await service.issue(client, None)
        assert jws.extract_compact(issued.access_token.encode()).headers()["alg"] == "RS256"
        assert (await service.verify(issued.access_token)).tier == "bronze"
