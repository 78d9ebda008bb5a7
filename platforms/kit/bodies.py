"""Request bodies decoded strictly, as the OpenAPI document describes them, refused in the vendor's shape.

Litestar decodes a ``data`` parameter to Python values and then converts them with
``strict=False``: ``"true"`` passes for a boolean and ``"7"`` for an integer, although the
sandbox's own document says such a body is refused. :class:`StrictBody` is a DTO, Litestar's
one hook between the raw bytes and the handler, that decodes the bytes with msgspec in strict
mode instead, straight into the body type (a ``Decimal`` field digit for digit):

* no coercion: a string is no boolean, number or id;
* a JSON number with a zero fraction (``45.0``) is an integer, as in JSON Schema;
* malformed JSON, a body nested too deeply or one of the wrong shape is a :class:`BodyError`
  naming the field (``requisition-lines[0].quantity``, ``[0].amount``; ``None`` for the body
  as a whole), which the DTO turns into the vendor's error answer through
  :meth:`StrictBody.refuse`.

A sandbox whose error answer is the kit's rendering of an ``HTTPException`` (or whose own
``HTTPException`` handler renders validation errors field by field) uses :class:`StrictBody`
as it is; one with its own error type subclasses it and overrides :meth:`~StrictBody.refuse`::

    class CoupaBody(StrictBody[B]):
        @classmethod
        def refuse(cls, error: BodyError) -> Exception:
            return CoupaError(400, str(error))

    @post("/api/suppliers", dto=CoupaBody[SupplierCreate], return_dto=None)
    def create(data: SupplierCreate) -> ...
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import msgspec
from litestar.dto import AbstractDTO
from litestar.exceptions import ValidationException
from litestar.typing import FieldDefinition

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.dto import DTOFieldDefinition
    from litestar.dto._backend import DTOBackend
    from litestar.openapi.spec import Reference, Schema

__all__ = ["BodyError", "StrictBody", "convert_strict", "decode_strict", "parse_json"]

T = TypeVar("T")

_INT_RANGE = (-(2**63), 2**64 - 1)
"""The integers msgspec reads into an ``int``; a wider integral number stays as it was written."""


class BodyError(Exception):
    """Why a request body was refused: the problem and where it is.

    Attributes:
        problem: What is wrong (``Expected `bool`, got `str```, ``not valid JSON: ...``).
        path: The field, as msgspec names it without ``$``: ``on-hold``,
            ``requisition-lines[0].quantity``, ``[0].amount``; ``None`` for the body as a whole.
    """

    def __init__(self, problem: str, path: str | None = None) -> None:
        super().__init__(f"{path or 'body'}: {problem}")
        self.problem = problem
        self.path = path

    @property
    def where(self) -> str:
        """The field, or ``body`` for the body as a whole."""
        return self.path or "body"

    @classmethod
    def from_validation(cls, exc: msgspec.ValidationError) -> BodyError:
        """The problem and path of msgspec's ``<problem> - at `$.<path>``` message."""
        problem, _, where = str(exc).partition(" - at `$")
        return cls(problem, where.rstrip("`").removeprefix(".") or None)


def _renumbered(raw: bytes) -> bytes | None:
    """``raw`` with integral float literals written as integers; ``None`` if it has none.

    JSON Schema counts ``45.0`` and ``1e3`` as integers; every other number stays as it was written.
    """
    changed = False

    def whole(literal: str) -> Any:
        nonlocal changed
        try:
            number = Decimal(literal)
            integral = number.is_finite() and number == number.to_integral_value()
            if integral and _INT_RANGE[0] <= number <= _INT_RANGE[1]:
                changed = True
                return int(number)
        except InvalidOperation:
            pass
        return msgspec.Raw(literal.encode())

    doc = _parse(raw, msgspec.json.Decoder(float_hook=whole))
    return msgspec.json.encode(doc) if changed else None


_PARSE = msgspec.json.Decoder()
_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_, strict=True)
    return decoder


def _parse(raw: bytes, decoder: msgspec.json.Decoder[Any]) -> Any:
    try:
        return decoder.decode(raw)
    except RecursionError:
        raise BodyError("nested too deeply") from None
    except msgspec.DecodeError as exc:
        raise BodyError(f"not valid JSON: {exc}") from None


def parse_json(raw: bytes) -> Any:
    """A JSON body as Python values (for bodies without a fixed type).

    Raises:
        BodyError: The body is not JSON, or is nested too deeply to read.
    """
    return _parse(raw, _PARSE)


def _typed(raw: bytes, type_: Any, form: Any) -> Any:
    try:
        value = _decoder(type_).decode(raw)
        if form is not None:
            _decoder(form).decode(raw)
    except RecursionError:
        raise BodyError("nested too deeply") from None
    return value


def decode_strict(raw: bytes, type_: Any, form: Any = None) -> Any:
    """Decode a JSON request body into ``type_`` without coercion; an empty body is ``null``.

    Args:
        raw: The request body.
        type_: What the body decodes into (a Struct, ``list[Struct]``...).
        form: A type the same body must also decode into, for what ``type_`` cannot say
            (a ``Decimal`` field that must be written as a JSON number...).

    Raises:
        BodyError: The body is not JSON, nested too deeply, or not of the documented shape.
    """
    raw = raw or b"null"
    try:
        try:
            return _typed(raw, type_, form)
        except msgspec.ValidationError:
            # maybe only because an integer was written 45.0: read it again as JSON Schema does
            renumbered = _renumbered(raw)
            if renumbered is None:
                raise
            return _typed(renumbered, type_, form)
    except msgspec.ValidationError as exc:  # a DecodeError too: first
        raise BodyError.from_validation(exc) from None
    except msgspec.DecodeError as exc:
        raise BodyError(f"not valid JSON: {exc}") from None


def _integral_floats(doc: Any) -> Any:
    """``130.0`` as ``130`` throughout ``doc`` (in place), as JSON Schema counts it."""
    if isinstance(doc, float):
        return int(doc) if doc.is_integer() else doc
    stack = [doc]
    while stack:  # a loop, not recursion: a deeply nested body must not exhaust the stack
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, item in list(items):
            if isinstance(item, float) and item.is_integer():
                node[key] = int(item)
            elif isinstance(item, dict | list):
                stack.append(item)
    return doc


def convert_strict(doc: Any, type_: Any) -> Any:
    """Convert a body already parsed (a form) into ``type_`` without coercion.

    Raises:
        BodyError: The body is not of the documented shape.
    """
    try:
        return msgspec.convert(_integral_floats(doc), type_, strict=True)
    except RecursionError:
        raise BodyError("nested too deeply") from None
    except msgspec.ValidationError as exc:
        raise BodyError.from_validation(exc) from None


def _structs(type_: Any) -> Generator[type[msgspec.Struct], None, None]:
    """Every Struct type a body of ``type_`` may contain, each once."""
    seen: set[type[msgspec.Struct]] = set()
    stack: list[Any] = [msgspec.inspect.type_info(type_)]
    while stack:
        info = stack.pop()
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls in seen:
                continue
            seen.add(info.cls)
            yield info.cls
            stack.extend(field.type for field in info.fields)
        elif isinstance(info, msgspec.inspect.Metadata):
            stack.append(info.type)
        elif isinstance(info, msgspec.inspect.UnionType):
            stack.extend(info.types)
        elif isinstance(info, msgspec.inspect.DictType):
            stack.append(info.value_type)
        elif isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.FrozenSetType
                        | msgspec.inspect.VarTupleType):
            stack.append(info.item_type)


class StrictBody(AbstractDTO[T]):
    """A route's ``data`` decoded with :func:`decode_strict` and documented as its plain type.

    Use as ``dto=StrictBody[SupplierCreate], return_dto=None`` with ``data: SupplierCreate``.
    The document describes the body type as it would without the DTO, and says
    ``additionalProperties: false`` for every Struct in it that forbids unknown fields; a
    Struct's ``openapi_extra`` (schema keywords its fields cannot express) is added to its schema.

    Class attributes a sandbox may set on a subclass:

    * :attr:`forms`: for a body type, a second type the same bytes must decode into.
    * :meth:`refuse`: the exception raised for a refused body (in the vendor's error shape).
    """

    forms: ClassVar[Mapping[Any, Any]] = {}
    """Extra shape checks by body type, run on the same bytes (see ``form`` of :func:`decode_strict`)."""

    @classmethod
    def refuse(cls, error: BodyError) -> Exception:
        """The exception that answers a refused body (raised by the DTO).

        By default a 400 ``ValidationException`` naming the field in ``extra``
        (``[{"key": path, "message": problem, "source": "body"}]``): the kit's handler of
        ``HTTPException`` renders it with the sandbox's ``ErrorRenderer`` as
        ``<path>: <problem>``, and a sandbox's own handler may render it field by field.
        Override it to raise the vendor's own exception.
        """
        return ValidationException(
            detail="the request body is not valid",
            extra=[{"key": error.path, "message": error.problem, "source": "body"}],
        )

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        """No transfer model: the body type is decoded as it is."""
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        """No transfer model, so nothing is nested."""
        return False

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: type[DTOBackend] | None = None
    ) -> None:
        """No backend to build."""

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        """The schema of the body type, closed where a Struct forbids unknown fields."""
        schema = schema_creator.for_field_definition(
            FieldDefinition.from_annotation(cls.model_type, kwarg_definition=field_definition.kwarg_definition))
        for struct in _structs(cls.model_type):
            closed = struct.__struct_config__.forbid_unknown_fields
            extra: dict[str, Any] = getattr(struct, "openapi_extra", {})
            if not (closed or extra):
                continue
            component = schema_creator.schema_registry.get_schema_for_field_definition(
                FieldDefinition.from_annotation(struct))
            if closed:
                component.additional_properties = False
            for key, value in extra.items():
                setattr(component, key, value)
        return schema

    def decode_bytes(self, value: bytes) -> T:
        """The body, strictly decoded."""
        try:
            decoded: T = decode_strict(value, self.model_type, self.forms.get(self.model_type))
        except BodyError as error:
            raise self.refuse(error) from None
        return decoded

    def decode_builtins(self, value: dict[str, Any]) -> T:
        """A body already parsed (a form), converted without coercion."""
        try:
            converted: T = convert_strict(value, self.model_type)
        except BodyError as error:
            raise self.refuse(error) from None
        return converted
