"""Cursor paging as every system API documents and answers it.

A list endpoint takes ``limit: Limit = 50`` and ``cursor: Cursor = None``, declares
``responses=list_errors(PLATFORM_ERRORS)`` and answers a :class:`~system_apis.canonical.Page`.
The cursor is refused in one of two ways, the same in every API:

- text that does not have the documented shape (:data:`~system_apis.canonical.paging.CURSOR_PATTERN`,
  at most :data:`~system_apis.canonical.paging.CURSOR_MAX_LENGTH` characters) is a malformed
  request: request validation answers 400 before a handler runs;
- a cursor of the right shape that does not decode (edited, truncated, built by hand, or issued
  for another list) is well-formed but meaningless: :func:`read_cursor` raises
  :func:`foreign_cursor`, a 422 naming ``query.cursor``.

An API whose positions are offsets uses :func:`read_offset` and :func:`offset_page`; one with
its own position type uses :func:`read_cursor` and :func:`cursor_page`.
"""

# No `from __future__ import annotations`: Litestar reads the aliases' metadata at runtime.

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import msgspec
from litestar.openapi import ResponseSpec
from litestar.params import QueryParameter

from policies.problems import InvalidParam, Problem, problem_spec
from system_apis.canonical.paging import CURSOR_MAX_LENGTH, CURSOR_PATTERN, Page, decode_cursor, encode_cursor

__all__ = [
    "FOREIGN_CURSOR",
    "Cursor",
    "Limit",
    "Offset",
    "cursor_page",
    "foreign_cursor",
    "list_errors",
    "offset_page",
    "read_cursor",
    "read_offset",
]

T = TypeVar("T")

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="Page size.")]
"""The ``limit`` query parameter of a list (give the default in the handler: ``limit: Limit = 50``)."""

Cursor = Annotated[
    str | None,
    QueryParameter(
        pattern=CURSOR_PATTERN,
        max_length=CURSOR_MAX_LENGTH,
        description="`next_cursor` of the previous page, as given (opaque; leave out for the first page).",
    ),
]
"""The ``cursor`` query parameter of a list (``cursor: Cursor = None``)."""

FOREIGN_CURSOR = (
    "The cursor has the shape of a cursor but is not a `next_cursor` this API issued for this list"
    " (edited, truncated, built by hand, or issued for another list or other filters)"
)
"""When a list answers 422 (the description of that response, without its full stop)."""


def list_errors(errors: Mapping[int, ResponseSpec], *, also: str | None = None) -> dict[int, ResponseSpec]:
    """``errors`` plus the 422 of a list that takes a cursor, for ``responses=``.

    ``also`` names anything else the list refuses with 422, e.g. ``"period is given without
    fiscal_year"``.
    """
    description = f"{FOREIGN_CURSOR}, or {also}." if also else f"{FOREIGN_CURSOR}."
    return {**errors, 422: problem_spec(description)}


def foreign_cursor(why: str | ValueError | None = None) -> Problem:
    """The answer to a cursor of the right shape that this API cannot page with (422).

    ``why`` says what is wrong with it: a text, or the ``ValueError`` of
    :func:`~system_apis.canonical.decode_cursor`.
    """
    because = str(why or "").removeprefix("invalid cursor").lstrip(": ")
    reason = f"not a cursor issued by this API ({because})" if because else "not a cursor issued by this API"
    return Problem(
        422,
        f"query.cursor: {reason}; pass `next_cursor` of the previous page as given, or start again without a cursor",
        kind="invalid-cursor",
        title="Invalid cursor",
        invalid_params=[InvalidParam(name="query.cursor", reason=reason)],
    )


def read_cursor(cursor: str | None, type_: type[T]) -> T | None:
    """The position ``cursor`` carries, as ``type_``; ``None`` for the first page.

    Raises:
        Problem: 422 (:func:`foreign_cursor`) when ``cursor`` was not issued by this API or
            holds another kind of position.
    """
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor, type_)
    except ValueError as error:
        raise foreign_cursor(error) from None


def cursor_page(items: list[T], position: Any | None) -> Page[T]:
    """A page of ``items`` whose next page starts at ``position`` (``None``: this is the last page)."""
    return Page(items=items, next_cursor=None if position is None else encode_cursor(position))


class Offset(msgspec.Struct, frozen=True):
    """The position of an offset-paged list: how many items come before the page."""

    offset: Annotated[int, msgspec.Meta(ge=0)]


def read_offset(cursor: str | None) -> int:
    """The offset ``cursor`` carries; 0 for the first page (422 like :func:`read_cursor`)."""
    position = read_cursor(cursor, Offset)
    return 0 if position is None else position.offset


def offset_page(items: list[T], *, offset: int, more: bool) -> Page[T]:
    """A page of an offset-paged list: ``items`` start at ``offset``; ``more`` says whether any follow."""
    return cursor_page(items, Offset(offset + len(items)) if more and items else None)
