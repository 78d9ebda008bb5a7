"""What the ERP sandbox's OpenAPI document says about its answers.

SAP Gateway routes OData paths itself (``A_Set('key')/to_Nav`` is no router's path segment),
so the sandbox serves every service through a few generic handlers. Their document can still
be true: these Structs describe the OData V2 envelopes those handlers send (``{"d": ...}`` on
success, ``{"error": ...}`` on failure), and :func:`responses` lists every status a handler
may answer, including the kit's injected faults.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi import ResponseSpec

__all__ = ["ODataAnswer", "ODataErrorDocument", "responses"]

JSON = "application/json"


class ODataMessage(msgspec.Struct, frozen=True):
    """The human-readable text of an OData error."""

    lang: str
    """Language of the text (always ``en`` in the sandbox)."""
    value: str
    """The message."""


class ODataErrorBody(msgspec.Struct, frozen=True):
    """SAP Gateway's error object."""

    code: str
    """SAP message class and number, e.g. ``/IWBEP/CM_MGW_RT/020``."""
    message: ODataMessage
    """What went wrong."""
    innererror: dict[str, Any]
    """SAP's details: application, transaction id, ``errordetails``."""


class ODataErrorDocument(msgspec.Struct, frozen=True):
    """An OData V2 error answer, as SAP Gateway sends it (JSON format)."""

    error: ODataErrorBody
    """The error."""


class ODataAnswer(msgspec.Struct, frozen=True):
    """An OData V2 JSON answer: ``d`` holds the entity, the ``results`` of a collection, or null."""

    d: dict[str, Any] | None
    """The payload (null for an empty to-one navigation)."""


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(ODataErrorDocument, description=description, media_type=JSON, generate_examples=False)


_ERRORS: dict[int, str] = {
    400: "The URI, query options or body are invalid, or a business rule refused the request.",
    401: "Basic authentication is missing or wrong (`WWW-Authenticate: Basic`).",
    403: "The CSRF token is missing or stale: fetch one with `x-csrf-token: Fetch` on a GET.",
    404: "No such service, entity set, entity or navigation property.",
    412: "`If-Match` names an outdated ETag.",
    429: "Injected fault: throttled, see `Retry-After`.",
    500: "Injected fault: internal error.",
    501: "The entity set does not support this operation.",
    503: "Injected fault: maintenance window, see `Retry-After`.",
}


def responses(success: dict[int, str], *, errors: tuple[int, ...] = tuple(_ERRORS)) -> dict[int, ResponseSpec]:
    """The responses of one handler: its successes (``{status: description}``) and its errors."""
    documented: dict[int, ResponseSpec] = {
        status: ResponseSpec(ODataAnswer, description=text, media_type=JSON, generate_examples=False)
        for status, text in success.items()
    }
    documented.update({status: _error(_ERRORS[status]) for status in errors})
    return documented
