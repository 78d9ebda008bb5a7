"""Kyriba-style errors: ``{"error": {"code", "message", "target", "details": [...]}}``.

Every error the treasury sandbox answers, whether a handler refuses a request, a fault is
injected or the framework rejects a path, takes this one shape, as the real gateway does.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

__all__ = ["ErrorDetail", "KyribaError", "exception_handlers", "render_error"]

_CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class ErrorDetail(msgspec.Struct, frozen=True, omit_defaults=True):
    """One detail of an error: usually one invalid field."""

    code: str
    message: str
    target: str | None = None


class KyribaError(Exception):
    """Raise anywhere in a handler to answer a Kyriba error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        target: str | None = None,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "ERROR")
        self.target = target
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> bytes:
        """The JSON error body."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "target": self.target,
                                 "details": [msgspec.to_builtins(d) for d in self.details]}
        return msgspec.json.encode({"error": error})

    def response(self) -> Response[bytes]:
        """The error as a Litestar response."""
        return Response(self.body(), status_code=self.status, media_type="application/json", headers=self.headers)


def render_error(status: int, message: str) -> tuple[str, bytes]:
    """The kit's ``ErrorRenderer``: faults (429, 500, 503) in Kyriba's error shape."""
    return "application/json", KyribaError(status, message).body()


def _kyriba(_: Request[Any, Any, Any], exc: KyribaError) -> Response[bytes]:
    return exc.response()


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    # Litestar's own rejections (unknown path, bad path parameter, wrong method) in vendor shape.
    status = exc.status_code
    message = exc.detail if exc.detail and status < 500 else HTTPStatus(status).phrase
    extra = getattr(exc, "extra", None)
    details = []
    if isinstance(extra, list):
        details = [ErrorDetail(code="INVALID_VALUE", message=str(e.get("message", "")), target=e.get("key"))
                   for e in extra if isinstance(e, dict)]
    return KyribaError(status, message, details=details, headers=dict(exc.headers or {})).response()


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    return KyribaError(500, "an internal server error occurred").response()


exception_handlers: dict[type[Exception] | int, Any] = {
    KyribaError: _kyriba,
    HTTPException: _http,
    Exception: _unexpected,
}
