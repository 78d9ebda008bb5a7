"""The process tier's one way down: governed HTTP calls to the system APIs.

Every call carries a bearer token, the instance's correlation id and, for creates, the
step's ``Idempotency-Key``; every answer is decoded into a Struct, and every failure is
classified for the engine: transport errors, timeouts, 5xx and 429 are
:class:`TechnicalError` (retried), 409 and 422 are :class:`BusinessError` with the problem's
kind as reason (a person decides), 404 is a :class:`BusinessError` with reason ``not-found``,
and any other 4xx is a permanent technical error (our request or our credential is wrong;
retrying cannot fix it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
import msgspec

from process_apis.flow.model import BusinessError, TechnicalError

__all__ = ["SystemClient", "TokenSource"]

T = TypeVar("T")

TokenSource = Callable[[], Awaitable[str]]
"""Returns a valid access token for the system APIs (cached by the source)."""

_encoder = msgspec.json.Encoder(decimal_format="string")
_PROBLEM_TYPE = "https://finrail.dev/problems/"


class _Problem(msgspec.Struct):
    detail: str = ""
    type: str = ""
    status: int = 0


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _problem(response: httpx.Response) -> _Problem:
    try:
        return msgspec.json.decode(response.content, type=_Problem)
    except msgspec.DecodeError:
        return _Problem(detail=response.text[:300])


class SystemClient:
    """Calls the system APIs for flow steps.

    Args:
        http: Long-lived client whose ``base_url`` is the gateway (in-process ASGI transport
            in the embedded default, the network otherwise).
        token: Source of access tokens carrying the system APIs' scopes.
    """

    def __init__(self, http: httpx.AsyncClient, token: TokenSource) -> None:
        self.http = http
        self.token = token

    async def get(
        self, path: str, *, type: type[T], params: Mapping[str, Any] | None = None,
        correlation_id: str,
    ) -> T:
        """GET ``path`` and decode the answer as ``type``."""
        return await self._call("GET", path, type, params=params, correlation_id=correlation_id)

    async def post(
        self, path: str, body: Any, *, type: type[T], idempotency_key: str | None,
        correlation_id: str, params: Mapping[str, Any] | None = None,
    ) -> T:
        """POST ``body`` (a Struct or plain data) to ``path`` and decode the answer as ``type``."""
        return await self._call("POST", path, type, body=body, key=idempotency_key, correlation_id=correlation_id,
                                params=params)

    async def put(
        self, path: str, body: Any, *, type: type[T], correlation_id: str,
    ) -> T:
        """PUT ``body`` to ``path`` and decode the answer as ``type``."""
        return await self._call("PUT", path, type, body=body, correlation_id=correlation_id)

    async def _call(
        self, method: str, path: str, type_: type[T], *, correlation_id: str,
        params: Mapping[str, Any] | None = None, body: Any = None, key: str | None = None,
    ) -> T:
        headers = {"Authorization": f"Bearer {await self.token()}", "X-Correlation-ID": correlation_id}
        content: bytes | None = None
        if body is not None:
            content = _encoder.encode(body)
            headers["Content-Type"] = "application/json"
        if key is not None:
            headers["Idempotency-Key"] = f'"{key}"'
        try:
            response = await self.http.request(method, path, params=dict(params or {}), content=content,
                                               headers=headers)
        except httpx.TimeoutException as exc:
            raise TechnicalError(f"{method} {path} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TechnicalError(f"{method} {path} failed: {exc!r}") from exc
        if response.status_code < 300:
            try:
                return msgspec.json.decode(response.content, type=type_, strict=False)
            except msgspec.DecodeError as exc:
                raise TechnicalError(f"{method} {path} answered a body that does not decode: {exc}",
                                     permanent=True) from exc
        problem = _problem(response)
        detail = f"{method} {path} answered {response.status_code}: {problem.detail or response.reason_phrase}"
        status = response.status_code
        reason = problem.type.removeprefix(_PROBLEM_TYPE) if problem.type.startswith(_PROBLEM_TYPE) else ""
        if reason == "idempotency-key-in-flight":
            # An earlier attempt of this very step is still running (a lease taken over).
            raise TechnicalError(detail, retry_after=_retry_after(response), status=status)
        if status in (409, 422, 404) and reason != "idempotency-key-reused":
            # A 404 is "not-found" whatever kind the API gave it (system APIs pass a platform's
            # refusal on as ``platform-rejected``); flows branch on the reason.
            raise BusinessError("not-found" if status == 404 else reason or "rejected", detail, status=status)
        if status == 429 or status >= 500 or status == 408:
            raise TechnicalError(detail, retry_after=_retry_after(response), status=status)
        raise TechnicalError(detail, permanent=True, status=status)
