"""List envelopes and opaque cursors for cursor pagination.

Every list endpoint answers ``{"items": [...], "next_cursor": "..."}``. The cursor is opaque to
clients: base64url of a small JSON document (the connector's position: an offset, a vendor's
page token...) followed by a keyed checksum. Clients cannot usefully edit it, and a cursor that
was edited, truncated or built by hand is refused with a :class:`ValueError` instead of
silently paging from a wrong position. A system API documents :data:`CURSOR_PATTERN` and
:data:`CURSOR_MAX_LENGTH` (text that does not fit them is a malformed request, 400) and answers
a cursor that fits them but does not decode with 422 (see ``system_apis.paging``).

The checksum guards integrity, not secrecy: the payload is readable, so never put anything in
a cursor a client may not see.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any, Final, Generic, TypeVar, overload

import msgspec

__all__ = [
    "CURSOR_KEY",
    "CURSOR_MAX_LENGTH",
    "CURSOR_PATTERN",
    "Page",
    "decode_cursor",
    "encode_cursor",
]

T = TypeVar("T")

CURSOR_KEY: Final = b"finrail-cursor-v1"
"""Default key of the cursor checksum; pass your own ``key`` to bind cursors to a deployment."""

_DIGEST_SIZE: Final = 12
_CHECKSUM_CHARS: Final = (_DIGEST_SIZE * 4 + 2) // 3  # base64url, unpadded

CURSOR_MAX_LENGTH: Final = 4096
"""The longest cursor :func:`decode_cursor` reads; a longer text is refused unread."""
CURSOR_PATTERN: Final = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{" + str(_CHECKSUM_CHARS) + "}$"
"""What every cursor :func:`encode_cursor` makes looks like: base64url payload, a dot, base64url checksum."""


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a list: the items and the cursor of the next page (``None`` on the last page)."""

    items: list[T]
    """The items of this page, in the list's order."""
    next_cursor: str | None = None
    """Pass as ``cursor`` to get the next page; ``None`` when this is the last page."""


def _checksum(payload: bytes, key: bytes) -> bytes:
    return hashlib.blake2b(payload, key=key, digest_size=_DIGEST_SIZE).digest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(position: Any, *, key: bytes = CURSOR_KEY) -> str:
    """Encode ``position`` (anything msgspec can encode as JSON) into an opaque cursor."""
    payload = msgspec.json.encode(position)
    return f"{_b64encode(payload)}.{_b64encode(_checksum(payload, key))}"


@overload
def decode_cursor(cursor: str, *, key: bytes = CURSOR_KEY) -> Any: ...
@overload
def decode_cursor(cursor: str, type_: type[T], *, key: bytes = CURSOR_KEY) -> T: ...
def decode_cursor(cursor: str, type_: Any = Any, *, key: bytes = CURSOR_KEY) -> Any:
    """Decode a cursor made by :func:`encode_cursor`, optionally into ``type_``.

    Raises:
        ValueError: the cursor is malformed, was tampered with, or does not match ``type_``.
    """
    if not isinstance(cursor, str) or not cursor or len(cursor) > CURSOR_MAX_LENGTH:
        raise ValueError("invalid cursor")
    body, dot, mac = cursor.partition(".")
    if not dot:
        raise ValueError("invalid cursor")
    try:
        payload = _b64decode(body)
        checksum = _b64decode(mac)
    except (binascii.Error, ValueError):
        raise ValueError("invalid cursor: not base64url") from None
    if not hmac.compare_digest(checksum, _checksum(payload, key)):
        raise ValueError("invalid cursor: it was modified or not issued by this API")
    try:
        return msgspec.json.decode(payload, type=type_)
    except msgspec.DecodeError:  # ValidationError is a DecodeError
        raise ValueError("invalid cursor: unexpected content") from None
