"""Kyriba list queries: RSQL ``filter``, ``sort``, ``page.limit``/``page.offset`` and the page envelope.

RSQL grammar supported (the subset Kyriba documents, plus ``,`` for *or* and parentheses)::

    expression := group (',' group)*
    group      := term (';' term)*
    term       := '(' expression ')' | selector op argument
    op         := '==' | '!=' | '=in=' | '=out=' | '=lt=' | '=le=' | '=gt=' | '=ge='
    argument   := value | '(' value (',' value)* ')'
    value      := unquoted text | 'single quoted' | "double quoted"

``==`` accepts ``*`` as a wildcard. Selectors are dotted paths into the documents
(``company.code``) and must be declared per resource; anything else is a 422 naming the
``filter`` target (the parameter is well-formed text, only its RSQL is not: JSON Schema cannot
say the grammar). Values compare as decimals when both sides are numbers, as text otherwise
(ISO dates and times order correctly as text).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from platforms.treasury.errors import ErrorDetail, KyribaError

__all__ = ["Predicate", "page", "parse_filter", "resolve", "sort_documents"]

Predicate = Callable[[Mapping[str, Any]], bool]

_OPERATORS = ("=in=", "=out=", "=lt=", "=le=", "=gt=", "=ge=", "==", "!=")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


def resolve(doc: Mapping[str, Any], selector: str) -> Any:
    """The value at a dotted path of ``doc`` (``None`` when any step is missing)."""
    value: Any = doc
    for part in selector.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _invalid(message: str) -> KyribaError:
    return KyribaError(422, "the filter is not valid RSQL", code="INVALID_FILTER", target="filter",
                       details=[ErrorDetail(code="INVALID_FILTER", message=message, target="filter")])


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _compare(left: Any, right: str) -> int | None:
    """-1, 0, 1 comparing a document value with a filter value; None when incomparable."""
    if left is None:
        return None
    a, b = _as_decimal(left), _as_decimal(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    text = str(left).lower() if isinstance(left, bool) else str(left)
    return (text > right) - (text < right)


def _equals(left: Any, right: str) -> bool:
    if "*" in right:
        return left is not None and fnmatch.fnmatchcase(str(left), right)
    if right == "null":
        return left is None
    return _compare(left, right) == 0


class _Parser:
    def __init__(self, text: str, fields: frozenset[str]) -> None:
        self.text = text
        self.pos = 0
        self.fields = fields

    def parse(self) -> Predicate:
        predicate = self.expression()
        if self.pos != len(self.text):
            raise _invalid(f"unexpected {self.text[self.pos:]!r} at position {self.pos}")
        return predicate

    def expression(self) -> Predicate:
        groups = [self.group()]
        while self.peek(","):
            self.pos += 1
            groups.append(self.group())
        return groups[0] if len(groups) == 1 else (lambda doc: any(g(doc) for g in groups))

    def group(self) -> Predicate:
        terms = [self.term()]
        while self.peek(";"):
            self.pos += 1
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else (lambda doc: all(t(doc) for t in terms))

    def peek(self, char: str) -> bool:
        return self.text.startswith(char, self.pos)

    def term(self) -> Predicate:
        if self.peek("("):
            self.pos += 1
            inner = self.expression()
            if not self.peek(")"):
                raise _invalid(f"missing ')' at position {self.pos}")
            self.pos += 1
            return inner
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] in "._"):
            self.pos += 1
        selector = self.text[start:self.pos]
        if not selector:
            raise _invalid(f"expected a field name at position {start}")
        if selector not in self.fields:
            raise _invalid(f"{selector!r} cannot be filtered on; use one of {', '.join(sorted(self.fields))}")
        operator = next((op for op in _OPERATORS if self.text.startswith(op, self.pos)), None)
        if operator is None:
            raise _invalid(f"expected an operator ({', '.join(_OPERATORS)}) after {selector!r}")
        self.pos += len(operator)
        if operator in ("=in=", "=out="):
            values = self.values()
            wanted = set(values)

            def member(doc: Mapping[str, Any]) -> bool:
                value = resolve(doc, selector)
                return value is not None and any(_compare(value, v) == 0 for v in wanted)

            return member if operator == "=in=" else (lambda doc: not member(doc))
        value = self.value()
        if operator == "==":
            return lambda doc: _equals(resolve(doc, selector), value)
        if operator == "!=":
            return lambda doc: not _equals(resolve(doc, selector), value)
        wanted_sign = {"=lt=": (-1,), "=le=": (-1, 0), "=gt=": (1,), "=ge=": (1, 0)}[operator]
        return lambda doc: _compare(resolve(doc, selector), value) in wanted_sign

    def values(self) -> list[str]:
        if not self.peek("("):
            raise _invalid(f"expected '(' with a list of values at position {self.pos}")
        self.pos += 1
        values = [self.value()]
        while self.peek(","):
            self.pos += 1
            values.append(self.value())
        if not self.peek(")"):
            raise _invalid(f"missing ')' at position {self.pos}")
        self.pos += 1
        return values

    def value(self) -> str:
        if self.pos < len(self.text) and self.text[self.pos] in "'\"":
            quote = self.text[self.pos]
            end = self.text.find(quote, self.pos + 1)
            if end < 0:
                raise _invalid(f"unterminated quote at position {self.pos}")
            value = self.text[self.pos + 1:end]
            self.pos = end + 1
            return value
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ";,()'\"":
            self.pos += 1
        value = self.text[start:self.pos]
        if not value:
            raise _invalid(f"expected a value at position {start}")
        return value


def parse_filter(text: str | None, fields: Iterable[str]) -> Predicate:
    """A predicate for an RSQL filter (everything passes when ``text`` is empty)."""
    if not text:
        return lambda doc: True
    return _Parser(text.strip(), frozenset(fields)).parse()


def sort_documents(docs: list[dict[str, Any]], sort: str | None, fields: Iterable[str]) -> list[dict[str, Any]]:
    """``docs`` ordered by ``sort`` (``code,-valueDate``); missing values sort first."""
    if not sort:
        return docs
    allowed = frozenset(fields)
    keys = [key.strip() for key in sort.split(",") if key.strip()]
    for key in reversed(keys):
        name = key.lstrip("-+")
        if name not in allowed:
            raise KyribaError(422, f"cannot sort on {name!r}; use one of {', '.join(sorted(allowed))}",
                              code="INVALID_SORT", target="sort")
        docs = sorted(docs, key=_key_of(name), reverse=key.startswith("-"))
    return docs


def _key_of(name: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    return lambda doc: _sort_key(resolve(doc, name))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    number = _as_decimal(value)
    return (1, number) if number is not None and number.is_finite() else (2, str(value))


def page(
    docs: list[dict[str, Any]], path: str, params: Mapping[str, str], limit: int, offset: int
) -> dict[str, Any]:
    """The Kyriba page envelope over ``docs`` (already filtered and sorted)."""
    total = len(docs)
    results = docs[offset:offset + limit]

    def link(at: int) -> str:
        query = {k: v for k, v in params.items() if k not in ("page.limit", "page.offset")}
        query.update({"page.limit": str(limit), "page.offset": str(at)})
        return f"{path}?{urlencode(query)}"

    links: dict[str, str] = {"self": link(offset)}
    if offset + limit < total:
        links["next"] = link(offset + limit)
    if offset > 0:
        links["previous"] = link(max(0, offset - limit))
    metadata = {"numberOfTotalResults": total, "pageLimit": limit, "pageOffset": offset, "links": links}
    return {"metadata": metadata, "results": results}
