"""Threat limits: refuse hostile or broken payloads before any handler or parser pays for them.

Headers are measured first (431), then the body: a declared ``Content-Length`` over the limit
is refused without reading a byte (413); otherwise the body is read from the ASGI channel, but
never more than one byte past the limit (413 again, for chunked uploads that declare nothing).
The bytes read are kept in ``call.body`` and replayed to the handler by the chain. A JSON body
is then decoded once and walked iteratively for its nesting depth and array lengths (400), so
no payload can exhaust the stack or make a handler iterate a million-element list.
"""

from __future__ import annotations

from typing import Any

import msgspec

from policies.call import Call
from policies.chain import Policy
from policies.problems import InvalidParam, Problem

__all__ = ["Threat", "check_json_shape"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_HEADER_OVERHEAD = 4  # ": " between name and value, CRLF after the value.
_decode = msgspec.json.Decoder().decode


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        f"the request body exceeds the limit of {limit} bytes",
        kind="body-too-large",
        title="Content Too Large",
    )


def _json_problem(detail: str, kind: str, path: str | None = None) -> Problem:
    params = (InvalidParam(name="body" + path[1:], reason=detail),) if path is not None else ()
    return Problem(400, detail, kind=kind, title="Invalid request body", invalid_params=params)


def _path(where: tuple[Any, ...] | None) -> str:
    """Render the linked ``(parent, key)`` chain built by the walk as a JSON path."""
    parts: list[str] = []
    while where is not None:
        where, key = where
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return "$" + "".join(reversed(parts))


def check_json_shape(document: Any, max_depth: int, max_array_length: int) -> None:
    """Refuse a decoded JSON document nested too deep or holding too long an array.

    The walk is iterative (an explicit stack holding containers only), so it costs one
    step per object or array and never recurses. Paths are built only for the error.

    Args:
        document: What :func:`msgspec.json.decode` returned.
        max_depth: Deepest nesting of objects and arrays allowed (the top level is 1).
        max_array_length: Longest array allowed anywhere.

    Raises:
        Problem: 400 naming the limit and the JSON path where it was exceeded.
    """
    kind = type(document)
    if kind is not list and kind is not dict:
        return
    stack: list[tuple[Any, int, tuple[Any, ...] | None]] = [(document, 1, None)]
    pop, push = stack.pop, stack.append
    while stack:
        value, depth, where = pop()
        if depth > max_depth:
            path = _path(where)
            raise _json_problem(
                f"JSON nesting exceeds the limit of {max_depth} levels at {path}", "json-too-deep", path
            )
        child = depth + 1
        if type(value) is list:
            if len(value) > max_array_length:
                path = _path(where)
                raise _json_problem(
                    f"JSON array at {path} has {len(value)} items, over the limit of {max_array_length}",
                    "json-array-too-long",
                    path,
                )
            for index, item in enumerate(value):
                kind = type(item)
                if kind is list or kind is dict:
                    push((item, child, (where, index)))
        else:
            for key, item in value.items():
                kind = type(item)
                if kind is list or kind is dict:
                    push((item, child, (where, key)))


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class Threat(Policy):
    """Enforce the route's :class:`~policies.config.ThreatConfig` on headers and body.

    Relies on the chain putting the ASGI ``receive`` callable in ``call.receive``.
    """

    name = "threat"

    async def on_request(self, call: Call) -> None:
        """Measure the headers, read and bound the body, and check the shape of JSON."""
        limits = call.route.threat
        size = 0
        content_length: bytes | None = None
        content_type: bytes | None = None
        chunked = False
        for key, value in call.scope["headers"]:
            size += len(key) + len(value) + _HEADER_OVERHEAD
            if key == b"content-length":
                content_length = value
            elif key == b"content-type":
                content_type = value
            elif key == b"transfer-encoding":
                chunked = True
        if size > limits.max_header_bytes:
            raise Problem(
                431,
                f"the request headers total {size} bytes, over the limit of {limits.max_header_bytes}",
                kind="headers-too-large",
            )
        if content_length is None and not chunked and call.route.method not in _BODY_METHODS:
            return
        if content_length is not None:
            try:
                declared = int(content_length)
            except ValueError:
                raise Problem(400, "Content-Length is not a number", kind="bad-content-length") from None
            if declared > limits.max_body_bytes:
                raise _too_large(limits.max_body_bytes)
        body = await self._read_body(call, limits.max_body_bytes)
        call.body = body
        if body and content_type is not None and _is_json(content_type.decode("latin-1")):
            try:
                document = _decode(body)
            except RecursionError:
                raise _json_problem(
                    f"JSON nesting exceeds the limit of {limits.max_json_depth} levels", "json-too-deep"
                ) from None
            except msgspec.DecodeError as exc:
                raise _json_problem(f"the request body is not valid JSON: {exc}", "invalid-json") from None
            check_json_shape(document, limits.max_json_depth, limits.max_array_length)
            call.json_body = document

    @staticmethod
    async def _read_body(call: Call, limit: int) -> bytes:
        receive = call.receive
        if receive is None:
            raise RuntimeError("the policy chain did not hand the receive channel to the call")
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Problem(400, "the client left before sending the whole body", kind="disconnected")
            chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
            if chunk:
                total += len(chunk)
                if total > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if len(chunks) == 1:
            return chunks[0]
        return b"".join(chunks)
