"""What can go wrong when a connector calls a platform, and how each failure is answered.

Every error names the platform and turns into an RFC 9457 :class:`~policies.problems.Problem`
with :meth:`PlatformError.problem`, so a system API handler can simply
``raise error.problem() from error``. The platform's own error body never reaches the caller
verbatim; only its message does, for 4xx answers where it helps the caller fix the request.
"""

from __future__ import annotations

import math

from policies.problems import Problem

__all__ = [
    "MalformedAnswer",
    "PlatformError",
    "PlatformRejected",
    "PlatformTimeout",
    "PlatformUnavailable",
]


class PlatformError(Exception):
    """Base of every failure talking to a platform.

    Args:
        detail: What went wrong, in words a caller can act on.
        platform: Name of the platform (``erp``, ``treasury``...).
    """

    status = 502
    """HTTP status of the problem this error becomes."""
    kind = "platform-error"
    """Problem type suffix."""
    title = "Platform error"
    """Problem title."""

    def __init__(self, detail: str, *, platform: str = "platform") -> None:
        super().__init__(f"{platform}: {detail}")
        self.detail = detail
        self.platform = platform

    def problem(self) -> Problem:
        """The RFC 9457 problem answering a call that failed with this error."""
        return Problem(self.status, self._problem_detail(), kind=self.kind, title=self.title)

    def _problem_detail(self) -> str:
        return f"platform '{self.platform}': {self.detail}"


class PlatformUnavailable(PlatformError):  # noqa: N818 - names fixed by the design
    """The platform cannot take calls now: circuit open, maintenance, or retries exhausted.

    Args:
        detail: Why it is unavailable.
        platform: Name of the platform.
        retry_after: Seconds after which trying again makes sense, if known.
    """

    status = 503
    kind = "platform-unavailable"
    title = "Platform unavailable"

    def __init__(self, detail: str, *, platform: str = "platform", retry_after: float | None = None) -> None:
        super().__init__(detail, platform=platform)
        self.retry_after = retry_after

    def problem(self) -> Problem:
        """A 503 problem, with ``Retry-After`` when the platform or the breaker said when."""
        headers = {"Retry-After": str(max(1, math.ceil(self.retry_after)))} if self.retry_after is not None else None
        return Problem(self.status, self._problem_detail(), kind=self.kind, title=self.title, headers=headers)


class PlatformTimeout(PlatformError):  # noqa: N818 - names fixed by the design
    """The platform did not answer in time; the call may or may not have taken effect."""

    status = 504
    kind = "platform-timeout"
    title = "Platform timeout"


class MalformedAnswer(PlatformError):  # noqa: N818 - names fixed by the design
    """The platform answered something that is not what its contract promises."""

    status = 502
    kind = "malformed-platform-answer"
    title = "Malformed platform answer"


# How a platform's 4xx becomes the caller's status: the caller's input problems stay 4xx;
# the gateway's own credentials being refused is not the caller's fault (502).
_REJECTION_STATUS = {400: 422, 401: 502, 403: 502, 404: 404, 409: 409, 410: 404, 412: 409, 422: 422}


class PlatformRejected(PlatformError):  # noqa: N818 - names fixed by the design
    """The platform refused the request with a 4xx answer.

    Args:
        status: The platform's HTTP status.
        detail: The platform's message (from its error body), or a description.
        platform: Name of the platform.
        code: The platform's own error code, if it has one.
        body: The platform's raw error body, for connectors that read more from it.
    """

    kind = "platform-rejected"
    title = "Rejected by the platform"

    def __init__(
        self, status: int, detail: str, *, platform: str = "platform", code: str | None = None, body: bytes = b""
    ) -> None:
        super().__init__(detail, platform=platform)
        self.platform_status = status
        self.code = code
        self.body = body
        self.status = _REJECTION_STATUS.get(status, 422)

    def _problem_detail(self) -> str:
        code = f" [{self.code}]" if self.code else ""
        return f"platform '{self.platform}' rejected the request ({self.platform_status}{code}): {self.detail}"
