"""The OData V2 protocol as SAP Gateway speaks it: entity sets, keys, query options, JSON, errors.

Everything here is generic over :class:`EntitySet` descriptions, so the ERP's services
(business partners, cost centers, invoices...) are data in :mod:`platforms.erp.model`, and
the handlers only add what is specific to a business object (deep inserts, function imports,
checks). Dates travel as SAP's ``/Date(<ms>)/`` and decimals as strings, as in SAP's JSON.
Documents in the store keep dates as ISO strings (``2025-01-31``) and decimals as strings.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

__all__ = [
    "ODATA_ROOT",
    "EntitySet",
    "Nav",
    "ODataError",
    "Prop",
    "QueryOptions",
    "decode_entity",
    "error_body",
    "format_key",
    "literal",
    "parse_filter",
    "parse_key",
    "parse_query",
    "render",
    "store_id",
    "to_sap_date",
]

ODATA_ROOT = "/sap/opu/odata/sap"
"""Where every SAP OData V2 service lives."""

MAX_PAGE = 1000
"""Server-side page size: longer answers end with ``__next`` (a ``$skiptoken`` link)."""


class ODataError(Exception):
    """An answer in SAP's OData V2 error format."""

    def __init__(self, status: int, message: str, code: str = "SY/530", details: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = list(details)

    def body(self) -> bytes:
        """The JSON error body SAP Gateway sends."""
        return msgspec.json.encode(
            {
                "error": {
                    "code": self.code,
                    "message": {"lang": "en", "value": self.message},
                    "innererror": {
                        "application": {"component_id": "FI", "service_namespace": "/SAP/"},
                        "errordetails": [
                            {"code": self.code, "message": text, "propertyref": "", "severity": "error", "target": ""}
                            for text in (self.details or [self.message])
                        ],
                    },
                }
            }
        )


def error_body(status: int, message: str) -> tuple[str, bytes]:
    """Render ``(status, message)`` as an OData V2 error (the kit's ``ErrorRenderer``)."""
    code = {401: "/IWFND/CM_CONSUMER/101", 404: "/IWBEP/CM_MGW_RT/020", 503: "/IWFND/CM_BEC/026"}.get(status, "SY/530")
    return "application/json", ODataError(status, message, code).body()


@dataclass(frozen=True, slots=True)
class Prop:
    """One property of an entity type: its EDM type and, for strings, SAP's length."""

    type: str = "Edm.String"
    """``Edm.String``, ``Edm.Decimal``, ``Edm.DateTime``, ``Edm.Boolean`` or ``Edm.Int32``."""
    max_length: int | None = None
    """Maximum length of a string (SAP's ``MaxLength``)."""


@dataclass(frozen=True, slots=True)
class Nav:
    """A navigation property: which entity set it leads to and how the keys join."""

    target: str
    """Name of the target entity set."""
    join: tuple[tuple[str, str], ...]
    """Pairs ``(source property, target property)`` that must be equal."""
    many: bool = True
    """``True`` for a collection, ``False`` for a single entity."""


@dataclass(frozen=True, slots=True)
class EntitySet:
    """An entity set of one service: its key, properties and navigation properties."""

    service: str
    """Service name, e.g. ``API_BUSINESS_PARTNER``."""
    name: str
    """Entity set name, e.g. ``A_BusinessPartner``."""
    keys: tuple[str, ...]
    """Key properties in SAP's order."""
    props: Mapping[str, Prop]
    """Every property."""
    navs: Mapping[str, Nav] = field(default_factory=dict)
    """Navigation properties."""

    @property
    def type_name(self) -> str:
        """The entity type's qualified name, as in ``__metadata.type``."""
        return f"{self.service}.{self.name}Type"

    @property
    def collection(self) -> str:
        """The store collection holding the documents."""
        return self.name


# --- values -------------------------------------------------------------------------------

_SAP_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_sap_date(iso: str | None) -> str | None:
    """``2025-01-31`` (or an ISO instant) as SAP's JSON ``/Date(<ms since epoch>)/``."""
    if iso is None:
        return None
    moment = dt.datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return f"/Date({int((moment - _EPOCH).total_seconds() * 1000)})/"


def _from_sap_date(value: str, name: str) -> str:
    """A JSON date (``/Date(ms)/`` or ISO ``2025-01-31T00:00:00``) as an ISO date string."""
    match = _SAP_DATE.match(value)
    try:
        if match:
            moment = _EPOCH + dt.timedelta(milliseconds=int(match.group(1)))
            return moment.date().isoformat()
        return dt.datetime.fromisoformat(value).date().isoformat()
    except (ValueError, OverflowError):
        raise ODataError(
            400, f"Property '{name}' has an invalid value: expected Edm.DateTime", "/IWBEP/CM_MGW_RT/004"
        ) from None


def _check_value(name: str, prop: Prop, value: Any) -> Any:
    """One incoming property value, checked and converted to its stored form."""
    if value is None:
        return None
    if prop.type == "Edm.String":
        if not isinstance(value, str):
            raise ODataError(
                400, f"Property '{name}' has an invalid value: expected Edm.String", "/IWBEP/CM_MGW_RT/004"
            )
        if prop.max_length is not None and len(value) > prop.max_length:
            raise ODataError(
                400,
                f"Property '{name}' is longer than {prop.max_length} characters",
                "/IWBEP/CM_MGW_RT/004",
            )
        return value
    if prop.type == "Edm.Boolean":
        if not isinstance(value, bool):
            raise ODataError(
                400, f"Property '{name}' has an invalid value: expected Edm.Boolean", "/IWBEP/CM_MGW_RT/004"
            )
        return value
    if prop.type == "Edm.Decimal":
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ODataError(
                400, f"Property '{name}' has an invalid value: expected Edm.Decimal as a string", "/IWBEP/CM_MGW_RT/004"
            )
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ODataError(
                400, f"Property '{name}' has an invalid value: expected Edm.Decimal", "/IWBEP/CM_MGW_RT/004"
            ) from None
        if not number.is_finite():
            raise ODataError(
                400, f"Property '{name}' has an invalid value: expected Edm.Decimal", "/IWBEP/CM_MGW_RT/004"
            )
        return str(number)
    if prop.type == "Edm.DateTime":
        if not isinstance(value, str):
            raise ODataError(
                400, f"Property '{name}' has an invalid value: expected Edm.DateTime", "/IWBEP/CM_MGW_RT/004"
            )
        return _from_sap_date(value, name)
    if prop.type == "Edm.Int32":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ODataError(400, f"Property '{name}' has an invalid value: expected Edm.Int32", "/IWBEP/CM_MGW_RT/004")
        return value
    return value


def decode_entity(
    entity: EntitySet, payload: Any, *, allow_navs: Iterable[str] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check an incoming entity body against its type.

    Args:
        entity: The entity set written to.
        payload: The decoded JSON body.
        allow_navs: Navigation properties a deep insert may carry.

    Returns:
        ``(properties in stored form, navigation property bodies)``.

    Raises:
        ODataError: 400 for an unknown property, a wrong type or a value too long.
    """
    if not isinstance(payload, dict):
        raise ODataError(400, f"The request body of {entity.name} must be a JSON object", "/IWBEP/CM_MGW_RT/004")
    props: dict[str, Any] = {}
    navs: dict[str, Any] = {}
    allowed = set(allow_navs)
    for name, value in payload.items():
        if name == "__metadata":
            continue
        if name in entity.props:
            props[name] = _check_value(name, entity.props[name], value)
        elif name in entity.navs and name in allowed:
            navs[name] = value
        else:
            raise ODataError(
                400, f"Property '{name}' is invalid for entity type '{entity.type_name}'", "/IWBEP/CM_MGW_RT/021"
            )
    return props, navs


def blank(entity: EntitySet) -> dict[str, Any]:
    """A document of ``entity`` with every property at SAP's initial value."""
    initial = {"Edm.String": "", "Edm.Boolean": False, "Edm.Decimal": "0", "Edm.DateTime": None, "Edm.Int32": 0}
    return {name: initial.get(prop.type) for name, prop in entity.props.items()}


# --- keys ---------------------------------------------------------------------------------

_KEY_PART = re.compile(r"\s*(?:(\w+)\s*=\s*)?(datetime'[^']*'|'(?:[^']|'')*'|[^,]+)\s*(?:,|$)")


def literal(text: str) -> Any:
    """The value of an OData V2 literal: ``'text'``, ``datetime'...'`` (as an ISO date), numbers, booleans."""
    text = text.strip()
    if text.startswith("datetime'") and text.endswith("'"):
        return text[9:-1][:10]
    if text.startswith("guid'") and text.endswith("'"):
        return text[5:-1]
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+(\.\d+)?[mMdD]?", text):
        return str(Decimal(text.rstrip("mMdD")))
    raise ODataError(400, f"Invalid literal {text!r}", "/IWBEP/CM_MGW_RT/022")


def parse_key(entity: EntitySet, text: str) -> dict[str, Any]:
    """The key values in ``A_Entity(<text>)``: ``'1'`` or ``A='1',B=datetime'...'``."""
    values: dict[str, Any] = {}
    position = 0
    while position < len(text):
        match = _KEY_PART.match(text, position)
        if not match or match.end() == position:
            raise ODataError(400, f"Invalid key predicate ({text})", "/IWBEP/CM_MGW_RT/022")
        name = match.group(1)
        if name is None:
            if len(entity.keys) != 1 or values:
                raise ODataError(400, f"Invalid key predicate ({text}) for {entity.name}", "/IWBEP/CM_MGW_RT/022")
            name = entity.keys[0]
        values[name] = literal(match.group(2))
        position = match.end()
    if set(values) != set(entity.keys):
        raise ODataError(400, f"Key predicate of {entity.name} needs {', '.join(entity.keys)}", "/IWBEP/CM_MGW_RT/022")
    return values


def store_id(entity: EntitySet, doc: Mapping[str, Any]) -> str:
    """The store id of a document: its key values joined."""
    return "|".join(str(doc.get(key, "")) for key in entity.keys)


def format_key(entity: EntitySet, doc: Mapping[str, Any]) -> str:
    """The key predicate of a document, as in its URI."""

    def one(name: str) -> str:
        value = doc.get(name)
        if entity.props[name].type == "Edm.DateTime":
            return f"datetime'{value}T00:00:00'"
        return "'" + str(value).replace("'", "''") + "'"

    if len(entity.keys) == 1:
        return one(entity.keys[0])
    return ",".join(f"{name}={one(name)}" for name in entity.keys)


# --- $filter ------------------------------------------------------------------------------

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<typed>(?:datetime|guid|datetimeoffset)'[^']*')"
    r"|(?P<num>-?\d+(?:\.\d+)?[mMdD]?)|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_/]*))"
)
_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"substringof", "startswith", "endswith"}


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ODataError(
                400,
                f"Invalid filter expression at position {position}: {text[position : position + 20]!r}",
                "/IWBEP/CM_MGW_RT/022",
            )
        tokens.append(match.group(0).strip())
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return tokens


def _compare(op: str, left: Any, right: Any, numeric: bool) -> bool:
    if numeric and isinstance(left, str | int) and isinstance(right, str | int):
        try:  # Edm.Decimal values are strings in documents and literals
            left, right = Decimal(str(left)), Decimal(str(right))
        except InvalidOperation:
            return False
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        result: bool = {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
    except TypeError:
        return False
    return result


class _FilterParser:
    """Recursive descent over ``or`` / ``and`` / ``not`` / comparisons / string functions."""

    def __init__(self, entity: EntitySet, text: str) -> None:
        self.entity = entity
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ODataError(
                400,
                f"Invalid filter expression: expected {expected or 'more'} at token {self.at}",
                "/IWBEP/CM_MGW_RT/022",
            )
        self.at += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek() is not None:
            raise ODataError(400, f"Invalid filter expression: unexpected {self.peek()!r}", "/IWBEP/CM_MGW_RT/022")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek() == "or":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.peek() == "and":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def unary(self) -> Predicate:
        if self.peek() == "not":
            self.take()
            inner = self.unary()
            return lambda doc: not inner(doc)
        if self.peek() == "(":
            self.take("(")
            inner = self.disjunction()
            self.take(")")
            return inner
        return self.comparison()

    def operand(self) -> Callable[[Mapping[str, Any]], Any]:
        token = self.take()
        if token in _FUNCTIONS:
            raise ODataError(400, f"Function {token} is not allowed here", "/IWBEP/CM_MGW_RT/022")
        if (
            token[0].isalpha()
            and not token.startswith(("datetime'", "guid'", "datetimeoffset'"))
            and token not in ("true", "false", "null")
        ):
            if token not in self.entity.props:
                raise ODataError(
                    400, f"Property {token} not found in type {self.entity.type_name}", "/IWBEP/CM_MGW_RT/022"
                )
            return lambda doc: doc.get(token)
        value = literal(token.replace("datetimeoffset'", "datetime'"))
        return lambda doc: value

    def comparison(self) -> Predicate:
        token = self.peek()
        if token in _FUNCTIONS:
            return self.function()
        numeric = self.peek() in self.entity.props and self.entity.props[str(self.peek())].type == "Edm.Decimal"
        left = self.operand()
        op = self.take()
        if op not in _COMPARISONS:
            raise ODataError(400, f"Invalid filter expression: unknown operator {op!r}", "/IWBEP/CM_MGW_RT/022")
        right = self.operand()
        return lambda doc: _compare(op, left(doc), right(doc), numeric)

    def function(self) -> Predicate:
        name = self.take()
        self.take("(")
        first = self.operand()
        self.take(",")
        second = self.operand()
        self.take(")")
        if self.peek() == "eq":  # SAP accepts "substringof('x', Name) eq true"
            self.take()
            wanted = self.operand()
        else:

            def wanted(doc: Mapping[str, Any]) -> Any:
                return True

        def test(doc: Mapping[str, Any]) -> bool:
            a, b = first(doc), second(doc)
            if not isinstance(a, str) or not isinstance(b, str):
                return False
            if name == "substringof":  # substringof(needle, haystack); the sandbox ignores case
                found = a.casefold() in b.casefold()
            elif name == "startswith":
                found = a.startswith(b)
            else:
                found = a.endswith(b)
            return bool(found == wanted(doc))

        return test


def parse_filter(entity: EntitySet, text: str) -> Predicate:
    """A predicate over stored documents from a ``$filter`` expression.

    Supports ``eq ne gt ge lt le``, ``and``, ``or``, ``not``, parentheses, ``substringof``,
    ``startswith`` and ``endswith``; literals ``'text'``, numbers, ``true``/``false``/``null``
    and ``datetime'2025-01-31T00:00:00'``.
    """
    return _FilterParser(entity, text).parse()


# --- query options ------------------------------------------------------------------------


@dataclass(slots=True)
class QueryOptions:
    """The system query options of one request."""

    top: int | None = None
    skip: int = 0
    filter: Predicate | None = None
    orderby: list[tuple[str, bool]] = field(default_factory=list)
    inlinecount: bool = False
    expand: list[str] = field(default_factory=list)
    select: list[str] = field(default_factory=list)


def _non_negative(name: str, text: str) -> int:
    if not re.fullmatch(r"\d{1,9}", text):
        raise ODataError(400, f"Invalid value {text!r} for system query option {name}", "/IWBEP/CM_MGW_RT/022")
    return int(text)


def parse_query(entity: EntitySet, params: Mapping[str, str]) -> QueryOptions:
    """Read ``$top $skip $skiptoken $filter $orderby $inlinecount $expand $select`` for ``entity``."""
    options = QueryOptions()
    if "$top" in params:
        options.top = _non_negative("$top", params["$top"])
    if "$skip" in params:
        options.skip = _non_negative("$skip", params["$skip"])
    if "$skiptoken" in params:
        options.skip += _non_negative("$skiptoken", params["$skiptoken"])
    if params.get("$filter"):
        options.filter = parse_filter(entity, params["$filter"])
    for part in filter(None, (p.strip() for p in params.get("$orderby", "").split(","))):
        words = part.split()
        if words[0] not in entity.props or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ODataError(400, f"Invalid $orderby {part!r} for {entity.name}", "/IWBEP/CM_MGW_RT/022")
        options.orderby.append((words[0], len(words) == 2 and words[1] == "desc"))
    count = params.get("$inlinecount")
    if count not in (None, "allpages", "none"):
        raise ODataError(400, f"Invalid value {count!r} for $inlinecount", "/IWBEP/CM_MGW_RT/022")
    options.inlinecount = count == "allpages"
    for nav in filter(None, (n.strip() for n in params.get("$expand", "").split(","))):
        if nav.split("/")[0] not in entity.navs:
            raise ODataError(
                400, f"Navigation property {nav} not found in type {entity.type_name}", "/IWBEP/CM_MGW_RT/022"
            )
        options.expand.append(nav)
    for prop in filter(None, (p.strip() for p in params.get("$select", "").split(","))):
        if prop not in entity.props and prop not in entity.navs and prop != "*":
            raise ODataError(400, f"Property {prop} not found in type {entity.type_name}", "/IWBEP/CM_MGW_RT/022")
        options.select.append(prop)
    return options


# --- rendering ----------------------------------------------------------------------------


def render(
    entity: EntitySet,
    doc: Mapping[str, Any],
    base: str,
    *,
    expand: Iterable[str] = (),
    select: Iterable[str] = (),
    related: Callable[[EntitySet, Nav, Mapping[str, Any]], list[dict[str, Any]]] | None = None,
    entity_sets: Mapping[str, EntitySet] | None = None,
) -> dict[str, Any]:
    """A stored document as SAP's JSON entity, with ``__metadata`` and navigation properties.

    Args:
        entity: The entity set of ``doc``.
        doc: The stored document (fields starting with ``_`` are internal and left out).
        base: Absolute URL of the service root, for ``__metadata.uri`` and ``__deferred``.
        expand: Navigation properties to inline; the others are ``__deferred`` links.
        select: Properties to keep (all when empty).
        related: Finds the documents a navigation property leads to (needed to expand).
        entity_sets: Every entity set by name (needed to expand).
    """
    uri = f"{base}/{entity.name}({format_key(entity, doc)})"
    chosen = set(select) - {"*"}
    out: dict[str, Any] = {"__metadata": {"id": uri, "uri": uri, "type": entity.type_name}}
    if "_etag" in doc:
        out["__metadata"]["etag"] = f"W/\"'{doc['_etag']}'\""
    for name, prop in entity.props.items():
        if chosen and name not in chosen:
            continue
        value = doc.get(name)
        out[name] = to_sap_date(value) if prop.type == "Edm.DateTime" else value
    expanded: dict[str, list[str]] = {}
    for path in expand:
        head, _, rest = path.partition("/")
        if head not in entity.navs:
            raise ODataError(
                400, f"Navigation property {head} not found in type {entity.type_name}", "/IWBEP/CM_MGW_RT/022"
            )
        expanded.setdefault(head, [])
        if rest:
            expanded[head].append(rest)
    for name, nav in entity.navs.items():
        if chosen and name not in chosen and name not in expanded:
            continue
        if name in expanded and related is not None and entity_sets is not None:
            target = entity_sets[nav.target]
            children = [
                render(target, child, base, expand=expanded[name], related=related, entity_sets=entity_sets)
                for child in related(entity, nav, doc)
            ]
            out[name] = {"results": children} if nav.many else (children[0] if children else None)
        else:
            out[name] = {"__deferred": {"uri": f"{uri}/{name}"}}
    return out
