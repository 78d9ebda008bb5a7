"""RFC 9457 problem details: the one shape every error of every API takes.

A policy rejects a call by raising :class:`Problem`. Handlers raise Litestar's HTTP
exceptions or :class:`Problem`; :data:`exception_handlers` turns all of them (and anything
unexpected) into ``application/problem+json`` without ever leaking a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec

__all__ = [
    "PROBLEM_JSON",
    "Problem",
    "ProblemDocument",
    "exception_handlers",
    "problem_response",
    "problem_spec",
]

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://finrail.dev/problems/"

logger = logging.getLogger("finrail.problems")


class InvalidParam(msgspec.Struct, frozen=True, omit_defaults=True):
    """One invalid input: where it is and what is wrong with it."""

    name: str
    """Field path, e.g. ``body.scopes[0]`` or ``query.limit``."""
    reason: str
    """Why the value was refused."""


class ProblemDocument(msgspec.Struct, frozen=True, omit_defaults=True):
    """The RFC 9457 body (plus ``correlation_id`` and ``invalid_params`` extension members)."""

    type: str
    """URI naming the kind of problem."""
    title: str
    """Short summary of the kind of problem."""
    status: int
    """HTTP status code."""
    detail: str
    """What went wrong with this request, and how to fix it."""
    instance: str | None = None
    """The request path the problem occurred on."""
    correlation_id: str | None = None
    """Correlation id of the call, for finding it in logs and audit records."""
    invalid_params: tuple[InvalidParam, ...] = ()
    """Each invalid input, with its field path."""


class Problem(Exception):  # noqa: N818 - it is the answer, not only an error
    """An error answer; raising it anywhere in the chain or a handler sends problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        invalid_params: Sequence[InvalidParam] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.kind = kind or self.title.lower().replace(" ", "-").replace("'", "")
        self.headers = dict(headers or {})
        self.invalid_params = tuple(invalid_params)

    def document(self, instance: str | None = None, correlation_id: str | None = None) -> ProblemDocument:
        """The body of this problem for one request."""
        return ProblemDocument(
            type=TYPE_BASE + self.kind,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            correlation_id=correlation_id,
            invalid_params=self.invalid_params,
        )

    def encode(self, instance: str | None = None, correlation_id: str | None = None) -> bytes:
        """The JSON body of this problem."""
        return msgspec.json.encode(self.document(instance, correlation_id))


def problem_spec(description: str) -> ResponseSpec:
    """An OpenAPI response declaring a problem+json answer, for ``responses={status: ...}``.

    Examples are not generated: they would be random, and the committed documents must be
    the same on every export.
    """
    return ResponseSpec(
        ProblemDocument, description=description, media_type=PROBLEM_JSON, generate_examples=False
    )


def _correlation_id(request: Request[Any, Any, Any]) -> str | None:
    call = request.scope.get("state", {}).get("finrail.call")
    return getattr(call, "correlation_id", None)


def problem_response(problem: Problem, request: Request[Any, Any, Any]) -> Response[bytes]:
    """A Litestar response carrying ``problem`` for ``request``."""
    return Response(
        content=problem.encode(request.url.path, _correlation_id(request)),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _field_path(source: Any, key: str | None, message: str) -> str:
    where = str(getattr(source, "value", source) or "body")
    if not key or key == "data":
        # msgspec names the path inside the body in its message: "... - at `$.scopes[0]`".
        if " - at `$" in message:
            return where + message.rsplit(" - at `$", 1)[1].rstrip("`")
        return where
    return f"{where}.{key}"


def _validation_problem(exc: ValidationException) -> Problem:
    params: list[InvalidParam] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            message = str(item.get("message", "invalid value"))
            path = _field_path(item.get("source"), item.get("key"), message)
            params.append(InvalidParam(name=path, reason=message.split(" - at `$")[0]))
    detail = "; ".join(f"{p.name}: {p.reason}" for p in params) or (exc.detail or "invalid request")
    if _breaks_a_rule(exc):
        return Problem(422, detail, kind="unprocessable", title="Unprocessable content", invalid_params=params)
    return Problem(400, detail, kind="validation", title="Invalid request", invalid_params=params)


def _breaks_a_rule(exc: BaseException) -> bool:
    """Whether a body of the right shape broke a rule its Struct checks itself.

    msgspec reports both a wrong shape (a string where a number belongs) and a failed
    ``__post_init__`` check (an IBAN with bad check digits, an unbalanced journal) as a
    ``ValidationError``; only the second is caused by the Struct's own ``ValueError``. A wrong
    shape is a malformed request (400); a broken rule is well-formed but unprocessable (422),
    which is also what a schema that cannot express the rule leads a client to expect.
    """
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, msgspec.ValidationError):
            return isinstance(cause.__cause__, ValueError | TypeError)
        cause = cause.__cause__
    return False


def _handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if isinstance(exc, ValidationException):
        return problem_response(_validation_problem(exc), request)
    status = exc.status_code
    detail = exc.detail or HTTPStatus(status).phrase
    if status == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path}"
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(Problem(status, detail, headers=exc.headers or None), request)


def _handle_problem(request: Request[Any, Any, Any], exc: Problem) -> Response[bytes]:
    return problem_response(exc, request)


def _handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    problem = Problem(500, "an internal error occurred; quote the correlation id when reporting it")
    return problem_response(problem, request)


exception_handlers: dict[Any, Any] = {
    Problem: _handle_problem,
    HTTPException: _handle_http,
    Exception: _handle_unexpected,
}
"""Litestar exception handlers that answer every error with problem+json."""
