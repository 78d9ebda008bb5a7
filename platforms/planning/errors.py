"""Concur-v4-style errors: ``{"errorId", "errorMessage", "httpStatus", "validationErrors"}``.

The same shape for handler refusals, injected faults and framework rejections, so a client
of the planning sandbox parses one error format only.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

__all__ = ["ConcurError", "exception_handlers", "render_error"]

_IDS = {400: "invalid.request", 401: "unauthorized", 403: "forbidden", 404: "not.found", 405: "method.not.allowed",
        409: "conflict", 429: "too.many.requests", 500: "internal.error", 503: "service.unavailable"}


class ConcurError(Exception):
    """Raise in a handler to answer a Concur error body."""

    def __init__(self, status: int, message: str, *, error_id: str | None = None,
                 fields: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_id = error_id or _IDS.get(status, "error")
        self.fields = fields or {}
        self.headers = headers or {}

    def body(self) -> bytes:
        """The JSON error body."""
        return msgspec.json.encode({
            "errorId": self.error_id, "errorMessage": self.message, "httpStatus": self.status,
            "validationErrors": [{"field": k, "message": v} for k, v in self.fields.items()],
        })

    def response(self) -> Response[bytes]:
        """The error as a Litestar response."""
        return Response(self.body(), status_code=self.status, media_type="application/json", headers=self.headers)


def render_error(status: int, message: str) -> tuple[str, bytes]:
    """The kit's ``ErrorRenderer``: faults in the Concur error shape."""
    return "application/json", ConcurError(status, message).body()


def _concur(_: Request[Any, Any, Any], exc: ConcurError) -> Response[bytes]:
    return exc.response()


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    message = exc.detail if exc.detail and status < 500 else HTTPStatus(status).phrase
    fields: dict[str, str] = {}
    if isinstance(exc.extra, list):
        fields = {str(e.get("key") or "body"): str(e.get("message", "")) for e in exc.extra if isinstance(e, dict)}
    return ConcurError(status, message, fields=fields, headers=dict(exc.headers or {})).response()


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    return ConcurError(500, "an internal server error occurred").response()


exception_handlers: dict[type[Exception] | int, Any] = {
    ConcurError: _concur,
    HTTPException: _http,
    Exception: _unexpected,
}
