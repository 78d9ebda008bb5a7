"""What every Coupa handler shares: the error format, paging and filtering, documents.

Coupa answers errors as ``{"errors": {"<field or base>": ["message", ...]}}`` and lists as a
bare JSON array paged by ``offset``/``limit`` (at most 50 per page), filtered by any field
given as a query parameter (``status=approved``, ``supplier[id]=12``,
``custom-fields[external-ref]=abc``; an empty value finds blank fields; operators
``[in]``, ``[not_in]``, ``[not_eq]``, ``[blank]``, ``[contains]``) and sorted by ``order_by``/``dir``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from litestar.exceptions import HTTPException
from litestar.openapi import ResponseSpec

from platforms.kit.store import Store

__all__ = [
    "CHANGE_ERRORS",
    "CREATE_ERRORS",
    "LIST_ERRORS",
    "MAX_LIMIT",
    "READ_ERRORS",
    "CoupaError",
    "CoupaErrors",
    "coupa_error",
    "coupa_responses",
    "load",
    "next_id",
    "now",
    "page",
    "save",
]

MAX_LIMIT = 50
"""Coupa's largest page."""

RESERVED_PARAMS = frozenset({"limit", "offset", "order_by", "dir", "return_object", "fields", "filter"})

T = TypeVar("T", bound=msgspec.Struct)


class CoupaError(HTTPException):
    """An error answer; the kit renders it with :func:`coupa_error`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail=message, status_code=status, headers=headers)


class CoupaErrors(msgspec.Struct, frozen=True):
    """Coupa's error body, for the document: messages by field (``base``: the object as a whole)."""

    errors: dict[str, list[str]]
    """Messages by field name."""


_ERROR_DESCRIPTIONS = {
    400: "The request is malformed: a parameter or field has the wrong type or form, or a filter is unknown.",
    401: "The bearer token is missing, unknown or expired.",
    403: "The token lacks the scope the route needs.",
    404: "No such object (or an object the request refers to does not exist).",
    422: "The request is well-formed but refused: a state that forbids it, a duplicate, a rule broken.",
    429: "Injected fault (`throttle_rate`): too many requests; retry after `Retry-After` seconds.",
    500: "Injected fault (`error_rate`): the platform failed without processing the request.",
    503: "Injected fault (`maintenance`): down for maintenance; retry after `Retry-After` seconds.",
}
FAULTS = (429, 500, 503)
"""What the kit's fault middleware may answer on any route (only when faults are switched on)."""


def coupa_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers of a route, for ``responses=``: ``statuses`` plus the injectable faults."""
    return {
        status: ResponseSpec(CoupaErrors, description=_ERROR_DESCRIPTIONS[status], generate_examples=False)
        for status in (*statuses, *FAULTS)
    }


LIST_ERRORS = coupa_responses(400, 401, 403)
"""Errors of a list."""
READ_ERRORS = coupa_responses(400, 401, 403, 404)
"""Errors of a read by id."""
CREATE_ERRORS = coupa_responses(400, 401, 403, 422)
"""Errors of a create that refers to nothing."""
CHANGE_ERRORS = coupa_responses(400, 401, 403, 404, 422)
"""Errors of a create referring to other objects, an update or an action."""


def coupa_error(status: int, message: str) -> tuple[str, bytes]:
    """Render an error the way Coupa does: ``{"errors": {"base": [message]}}``."""
    return "application/json", msgspec.json.encode({"errors": {"base": [message]}})


def now() -> datetime:
    """The current time, UTC, to the second (as Coupa shows it)."""
    return datetime.now(UTC).replace(microsecond=0)


def next_id(store: Store, collection: str) -> int:
    """The next id of ``collection`` (ids are per resource, from 1)."""
    return store.next_number(f"{collection}.id", 1)


def save(store: Store, collection: str, obj: msgspec.Struct) -> dict[str, Any]:
    """Store ``obj`` under its id and return its JSON document."""
    doc: dict[str, Any] = msgspec.to_builtins(obj)
    store.put(collection, str(doc["id"]), doc)
    return doc


def load(store: Store, collection: str, type_: type[T], id: int, what: str) -> T:
    """The object ``id`` of ``collection``.

    Raises:
        CoupaError: 404 when there is none.
    """
    doc = store.get(collection, str(id))
    if doc is None:
        raise CoupaError(404, f"{what} {id} not found")
    return msgspec.convert(doc, type_)


def _lookup(doc: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(doc, dict):
            doc = doc.get(part)
        elif isinstance(doc, list):  # a filter on a list field matches any element
            return [_lookup(item, [part]) for item in doc]
        else:
            return None
    return doc


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


OPERATORS = frozenset({"in", "not_in", "not_eq", "blank", "contains"})
"""Coupa's filter operators, written ``field[operator]=value``."""


def _matches(value: Any, wanted: str, operator: str | None = None) -> bool:
    if isinstance(value, list):
        return any(_matches(item, wanted, operator) for item in value)
    text = _text(value) or ""
    if operator == "in":
        return text in wanted.split(",")
    if operator == "not_in":
        return text not in wanted.split(",")
    if operator == "not_eq":
        return text != wanted
    if operator == "blank":
        return (text == "") == (wanted.lower() == "true")
    if operator == "contains":
        return wanted.lower() in text.lower()
    return text == wanted  # an empty filter value finds blank fields


def _parse_path(name: str) -> list[str]:
    """``supplier[id]`` -> ``["supplier", "id"]``."""
    head, _, rest = name.partition("[")
    parts = [head]
    while rest:
        inner, _, rest = rest.partition("]")
        parts.append(inner)
        rest = rest.removeprefix("[")
    return parts


def _integer(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise CoupaError(400, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise CoupaError(400, f"{name} must be between {low} and {high}")
    return value


def page(store: Store, collection: str, type_: type[msgspec.Struct], query: Mapping[str, str]) -> list[Any]:
    """One page of ``collection`` as Coupa lists it: filtered, sorted, offset/limit.

    Args:
        store: The sandbox store.
        collection: Collection name.
        type_: The resource Struct, whose wire field names are the filterable fields.
        query: The request's query parameters.

    Returns:
        The documents of the page (a bare list).

    Raises:
        CoupaError: 400 for a bad ``limit``/``offset``/``dir`` or a filter on an unknown field.
    """
    limit = _integer(query, "limit", MAX_LIMIT, 1, MAX_LIMIT)
    offset = _integer(query, "offset", 0, 0, 10**9)
    fields = {f.encode_name for f in msgspec.structs.fields(type_)}
    filters: list[tuple[list[str], str, str | None]] = []
    for name, wanted in query.items():
        if name in RESERVED_PARAMS:
            continue
        path = _parse_path(name)
        if path[0] not in fields:
            raise CoupaError(400, f"unknown field {path[0]!r} in filter")
        operator = path.pop() if len(path) > 1 and path[-1] in OPERATORS else None
        filters.append((path, wanted, operator))
    docs = [doc for doc in store.all(collection) if all(_matches(_lookup(doc, p), w, o) for p, w, o in filters)]
    order_by = query.get("order_by", "id")
    if order_by not in fields:
        raise CoupaError(400, f"cannot order by unknown field {order_by!r}")
    direction = query.get("dir", "asc")
    if direction not in ("asc", "desc"):
        raise CoupaError(400, "dir must be asc or desc")
    docs.sort(key=lambda d: (d.get(order_by) is None, _sort_key(d.get(order_by))), reverse=direction == "desc")
    return docs[offset : offset + limit]


def _sort_key(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, _text(value) or "")
