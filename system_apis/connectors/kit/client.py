"""The resilient HTTP client every connector talks to its platform through.

One long-lived ``httpx.AsyncClient`` per platform, and around each exchange: the outbound rate
limit (wait, don't fail), the circuit breaker (fail fast while the platform is down), and
retries with exponential backoff and full jitter on timeouts, connection errors, 5xx and 429
(a ``Retry-After`` is honoured up to ``retry_after_max_seconds``). Failures come out as
:class:`~system_apis.connectors.kit.errors.PlatformError` subclasses that turn into RFC 9457
problems naming the platform. Correlation id and trace context of the call in flight go out
on every request.

Retrying a create is only safe when the platform cannot create twice; :meth:`PlatformClient.create_once`
implements the rule of the design: send without blind retries, and after a timeout look the
object up by its deterministic external reference (:func:`external_reference`) before sending
again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import msgspec

from policies.call import Call
from policies.correlation import propagate
from system_apis.connectors.kit.auth import OAuth2ClientCredentials
from system_apis.connectors.kit.breaker import CircuitBreaker, CircuitOpen
from system_apis.connectors.kit.config import ConnectionConfig
from system_apis.connectors.kit.errors import (
    MalformedAnswer,
    PlatformError,
    PlatformRejected,
    PlatformTimeout,
    PlatformUnavailable,
)
from system_apis.connectors.kit.ratelimit import RateLimiter

__all__ = ["PlatformClient", "external_reference", "platform_message"]

T = TypeVar("T")

_MESSAGE_LIMIT = 500


def call_reference(call: Call, platform: str, kind: str, *, length: int = 16) -> str:
    """The external reference of a create made by a governed call.

    One per client and ``Idempotency-Key`` (every create route requires one), so a client's
    retry, and the connector's own retry after a timeout, name the same platform object.
    """
    return external_reference(platform, kind, call.client_id or "", call.idempotency_key or "", length=length)


def external_reference(*parts: str, length: int = 16) -> str:
    """A deterministic reference for a create, from the caller's idempotency key or object id.

    The same parts always give the same reference, so a create re-sent after a timeout can
    be found on the platform first. Upper-case letters and digits only (fits the narrow
    reference fields of ERPs, e.g. SAP's 16-character ``DocumentReferenceID``).

    Args:
        *parts: What makes the create unique, e.g. ``("invoice", idempotency_key)``.
        length: Length of the reference (8..52).

    Returns:
        ``FR`` followed by ``length - 2`` base32 characters of a SHA-256 of the parts.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return "FR" + base64.b32encode(digest).decode("ascii")[: max(6, min(length, 52) - 2)]


def platform_message(response: httpx.Response) -> tuple[str, str | None]:
    """The platform's own error message and code from an error answer, best effort.

    Understands the common shapes: OData (``error.message.value``), Kyriba/Graph
    (``error.message``, ``error.code``), ``errors[0].message``, Coupa
    (``errors: {field: [message]}``), ``message``, ``detail``.

    Returns:
        ``(message, code)``; the message falls back to the (shortened) body or the status.
    """
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        text = response.text.strip()
        return (text[:_MESSAGE_LIMIT] or f"HTTP {response.status_code}"), None
    message: Any = None
    code: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message, code = error.get("message"), error.get("code")
            if isinstance(message, dict):  # OData V2: {"lang": "en", "value": "..."}
                message = message.get("value")
        elif isinstance(error, str):
            message = error
        errors = body.get("errors")
        if message is None and isinstance(errors, list) and errors and isinstance(errors[0], dict):
            message, code = errors[0].get("message"), errors[0].get("code")
        elif message is None and isinstance(errors, dict):  # Coupa: {"errors": {"field": ["message"]}}
            message = "; ".join(
                f"{'' if field == 'base' else field + ': '}{text}"
                for field, texts in errors.items()
                for text in (texts if isinstance(texts, list) else [texts])
            )
        if message is None:
            message = body.get("message") or body.get("detail") or body.get("error_description")
    if not isinstance(message, str) or not message:
        message = response.text.strip()[:_MESSAGE_LIMIT] or f"HTTP {response.status_code}"
    return message[:_MESSAGE_LIMIT], (str(code) if code is not None else None)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _default_auth(name: str, config: ConnectionConfig) -> httpx.Auth | None:
    if config.client_id and config.client_secret and config.token_path:
        return OAuth2ClientCredentials(
            config.token_path, config.client_id, config.client_secret, config.scopes, platform=name
        )
    if config.username is not None and config.password is not None:
        return httpx.BasicAuth(config.username, config.password)
    return None


class PlatformClient:
    """A connector's one way to its platform.

    Args:
        name: Platform name (``erp``, ``procurement``...), used in every error message.
        config: Connection settings.
        transport: httpx transport; ``httpx.ASGITransport(app=...)`` reaches an embedded
            sandbox, ``None`` the network.
        auth: httpx auth; by default OAuth2 client credentials when ``config`` names a
            client and token path, HTTP Basic when it names a user, none otherwise.
    """

    def __init__(
        self,
        name: str,
        config: ConnectionConfig,
        transport: httpx.AsyncBaseTransport | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset_seconds)
        self.limiter = RateLimiter(config.rate)
        self._jitter = random.Random()  # noqa: S311 - jitter, not secrets
        self._client = httpx.AsyncClient(
            base_url=config.base_url,
            transport=transport,
            auth=auth if auth is not None else _default_auth(name, config),
            timeout=httpx.Timeout(config.timeout_seconds),
            headers={"Accept": "application/json", "User-Agent": "finrail-connector"},
        )
        propagate(self._client)

    async def __aenter__(self) -> PlatformClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay before retry number ``attempt + 1`` (a random value up to the bound)."""
        bound = min(self.config.backoff_max_seconds, self.config.backoff_base_seconds * 2**attempt)
        return self._jitter.uniform(0, bound)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """Send one request to the platform, resiliently; return its 1xx-3xx answer.

        Args:
            method: HTTP method.
            path: Path relative to ``base_url`` (or an absolute URL).
            params: Query parameters.
            json: Body, encoded with msgspec (Structs, Decimals as strings, UTC datetimes).
            content: Raw body (when ``json`` is not used), e.g. XML.
            headers: Extra headers (they win over the defaults).
            retry: Retry timeouts, connection errors, 5xx and 429. Pass ``False`` for a
                create that must not be sent twice blindly (see :meth:`create_once`).

        Returns:
            The answer (status below 400).

        Raises:
            PlatformUnavailable: Circuit open, connection failed, or 5xx/429 after the last
                attempt (with the platform's ``Retry-After`` when it sent one).
            PlatformTimeout: No answer in time on the last attempt.
            PlatformRejected: A 4xx answer (not retried), with the platform's message.
        """
        send_headers = dict(headers or {})
        if json is not None:
            content = msgspec.json.encode(json)
            send_headers.setdefault("Content-Type", "application/json")
        attempts = 1 + (max(0, self.config.retries) if retry else 0)
        failure: PlatformError | None = None
        delay = 0.0
        for attempt in range(attempts):
            if failure is not None:
                await asyncio.sleep(delay)
            try:
                self.breaker.before_call()
            except CircuitOpen as exc:
                detail = (
                    f"circuit open after {self.breaker.failures} consecutive failures; "
                    f"not calling it for {exc.retry_after:.0f} s"
                )
                raise PlatformUnavailable(detail, platform=self.name, retry_after=exc.retry_after) from None
            await self.limiter.acquire()
            try:
                response = await self._client.request(
                    method, path, params=params, content=content, headers=send_headers
                )
            except httpx.TimeoutException:
                self.breaker.record_failure()
                detail = f"no answer to {method} {path} within {self.config.timeout_seconds:g} s"
                failure = PlatformTimeout(f"{detail} (attempt {attempt + 1} of {attempts})", platform=self.name)
                delay = self.backoff(attempt)
                continue
            except httpx.TransportError as exc:
                self.breaker.record_failure()
                detail = f"cannot reach it for {method} {path}: {type(exc).__name__}"
                failure = PlatformUnavailable(f"{detail} (attempt {attempt + 1} of {attempts})", platform=self.name)
                delay = self.backoff(attempt)
                continue
            status = response.status_code
            if status < 400:
                self.breaker.record_success()
                return response
            if status != 429 and status < 500:
                self.breaker.record_success()  # it answered; the request was wrong
                message, code = platform_message(response)
                raise PlatformRejected(status, message, platform=self.name, code=code, body=response.content)
            if status == 429:
                self.breaker.record_success()  # alive, only busy
            else:
                self.breaker.record_failure()
            retry_after = _retry_after(response)
            message, _ = platform_message(response)
            failure = PlatformUnavailable(
                f"answered {status} to {method} {path} (attempt {attempt + 1} of {attempts}): {message}",
                platform=self.name,
                retry_after=retry_after,
            )
            if retry_after is not None and retry_after > self.config.retry_after_max_seconds:
                raise failure  # not worth holding the caller: tell them when to come back
            delay = retry_after if retry_after is not None else self.backoff(attempt)
        assert failure is not None
        raise failure

    def decode(self, response: httpx.Response, type_: type[T]) -> T:
        """Decode a JSON answer into ``type_`` (a msgspec Struct or any msgspec type).

        Raises:
            MalformedAnswer: The body is not JSON, or does not match ``type_``.
        """
        try:
            return msgspec.json.decode(response.content, type=type_)
        except msgspec.DecodeError as exc:
            where = f"{response.request.method} {response.request.url.path}"
            detail = f"answer to {where} does not match its contract: {exc}"
            raise MalformedAnswer(detail, platform=self.name) from exc

    async def create_once(
        self, create: Callable[[], Awaitable[T]], find: Callable[[], Awaitable[T | None]]
    ) -> T:
        """Create an object at most once, even when answers time out.

        ``create`` must send with ``retry=False`` and carry a deterministic external
        reference; ``find`` looks the object up by that reference. After a timeout or an
        unavailable answer, the object is looked up first and sent again only if the
        platform does not have it.

        Args:
            create: Sends the create and returns the created object.
            find: Returns the object created earlier with the same reference, or ``None``.

        Returns:
            The created (or found) object.

        Raises:
            PlatformError: The last attempt failed, or the platform rejected the create.
        """
        attempts = 1 + max(0, self.config.retries)
        for attempt in range(attempts):
            if attempt:
                found = await find()
                if found is not None:
                    return found
            try:
                return await create()
            except (PlatformTimeout, PlatformUnavailable) as exc:
                retry_after = exc.retry_after if isinstance(exc, PlatformUnavailable) else None
                too_long = retry_after is not None and retry_after > self.config.retry_after_max_seconds
                if attempt == attempts - 1 or too_long or self.breaker.state == "open":
                    raise
                await asyncio.sleep(retry_after if retry_after is not None else self.backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover
