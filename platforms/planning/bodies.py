"""Request bodies of the planning sandbox, decoded strictly from the raw bytes.

Litestar decodes a ``data`` body to Python values first (JSON numbers become floats) and then
converts them leniently (``"true"`` passes for a boolean, ``"12"`` for a number). The sandbox
holds clients to its document instead: :class:`StrictBody` is a DTO that decodes the raw
bytes with ``msgspec`` in strict mode, straight into the Structs (amounts into
:class:`~decimal.Decimal`, digit for digit), and documents exactly the type it decodes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
from litestar.dto import AbstractDTO
from litestar.typing import FieldDefinition

from platforms.planning.errors import ConcurError

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.dto import DTOFieldDefinition
    from litestar.dto._backend import DTOBackend
    from litestar.openapi.spec import Reference, Schema

__all__ = ["AMOUNT_LIMIT", "AMOUNT_PATTERN", "MAX_ADJUSTMENTS", "AdjustmentIn", "Amount", "StrictBody", "decode_strict"]

T = TypeVar("T")

AMOUNT_LIMIT = 10**12
"""Amounts are below this in absolute value (twelve integer digits)."""
AMOUNT_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{1,18})?$"
"""An amount given as a string: plain decimal notation (no exponent, no NaN)."""

_AMOUNT_SCHEMA: dict[str, Any] = {
    "type": None,
    "format": None,
    "any_of": [
        {"type": "number", "exclusiveMinimum": -AMOUNT_LIMIT, "exclusiveMaximum": AMOUNT_LIMIT},
        {"type": "string", "pattern": AMOUNT_PATTERN, "maxLength": 32},
    ],
    "description": "Amount (+/-): a JSON number as Concur sends it, or a decimal string; never read as a float.",
}

Amount = Annotated[Decimal, msgspec.Meta(extra_json_schema={"extra": _AMOUNT_SCHEMA})]
"""A signed amount: a JSON number, or a decimal string (see :class:`_AmountForm`)."""

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class AdjustmentIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One element of ``POST /budget/v4/adjustments`` (Concur's BudgetAdjustmentsExternal + extensions).

    The line is named by ``budgetItemDetailId`` (extension), or by ``budgetItemName`` and
    ``fiscalPeriodName`` as Concur does.
    """

    amountType: Literal["PENDING_AMOUNT", "SPENT_AMOUNT"]  # noqa: N815 - vendor field
    amount: Amount
    adjustmentType: Literal["EXPENSE", "PAYMENT_REQUEST", "PURCHASE_REQUEST", "REQUEST"] = "EXPENSE"  # noqa: N815
    budgetItemDetailId: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # noqa: N815
    budgetItemName: Text | None = None  # noqa: N815 - vendor field: the budget by name ...
    fiscalPeriodName: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None  # noqa: N815
    externalReference: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # noqa: N815
    currencyCode: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] | None = None  # noqa: N815
    description: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    transactionDate: dt.date | None = None  # noqa: N815 - vendor field

    openapi_extra: ClassVar[dict[str, Any]] = {"any_of": [
        {"required": ["budgetItemDetailId"], "properties": {"budgetItemDetailId": {"type": "string"}}},
        {"required": ["budgetItemName", "fiscalPeriodName"],
         "properties": {"budgetItemName": {"type": "string"}, "fiscalPeriodName": {"type": "string"}}},
    ]}
    """What the schema of the Struct's fields cannot say: which fields name the line."""

    def __post_init__(self) -> None:
        if self.budgetItemDetailId is None and (self.budgetItemName is None or self.fiscalPeriodName is None):
            raise ValueError("name the line: budgetItemDetailId, or budgetItemName and fiscalPeriodName")


class _AmountForm(msgspec.Struct, frozen=True):
    """What the document allows for ``amount``; checked on the bytes beside :class:`AdjustmentIn`.

    ``Decimal`` alone would also take ``"1e5"``, ``"NaN"`` or ``"Infinity"`` from a string.
    The float here only checks the range; the value booked is the exact Decimal.
    """

    amount: (Annotated[str, msgspec.Meta(pattern=AMOUNT_PATTERN, max_length=32)]
             | Annotated[float, msgspec.Meta(gt=-AMOUNT_LIMIT, lt=AMOUNT_LIMIT)])


MAX_ADJUSTMENTS = 100
"""At most this many adjustments in one request."""
_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}
_FORMS: dict[Any, Any] = {
    list[AdjustmentIn]: Annotated[list[_AmountForm], msgspec.Meta(min_length=1, max_length=MAX_ADJUSTMENTS)],
}
"""Extra shape checks of a body type, run on the same bytes."""


def _decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_, strict=True)
    return decoder


def decode_strict(body: bytes, type_: Any) -> Any:
    """Decode a JSON request body into ``type_`` in strict mode; a bad one is a Concur 400 naming the field."""
    try:
        value = _decoder(type_).decode(body or b"null")
        if (form := _FORMS.get(type_)) is not None:
            _decoder(form).decode(body)
    except msgspec.ValidationError as exc:
        message = str(exc)
        problem, _, where = message.partition(" - at `$")
        raise ConcurError(400, f"the request body is not valid: {message}", error_id="invalid.body",
                          fields={where.rstrip("`") or "body": problem}) from exc
    except msgspec.DecodeError as exc:
        raise ConcurError(400, f"the request body is not valid JSON: {exc}", error_id="invalid.body",
                          fields={"body": str(exc)}) from exc
    return value


class StrictBody(AbstractDTO[T]):
    """A data DTO: decodes the raw body strictly (:func:`decode_strict`) and documents its type as is.

    Use as ``data_dto=StrictBody[list[AdjustmentIn]]`` with ``data: list[AdjustmentIn]``.
    Structs that forbid unknown fields are documented with ``additionalProperties: false``, and
    a Struct's ``openapi_extra`` (schema keywords its fields cannot express) is added to its schema.
    """

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        """No transfer model: the Struct is decoded directly."""
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        """Nothing is nested for this DTO."""
        return False

    @classmethod
    def create_for_field_definition(cls, field_definition: FieldDefinition, handler_id: str,
                                    backend_cls: type[DTOBackend] | None = None) -> None:
        """No backend to build."""

    @classmethod
    def create_openapi_schema(cls, field_definition: FieldDefinition, handler_id: str,
                              schema_creator: SchemaCreator) -> Reference | Schema:
        """The schema of the decoded type, closed where the Struct forbids unknown fields."""
        schema = schema_creator.for_field_definition(
            FieldDefinition.from_annotation(cls.model_type, kwarg_definition=field_definition.kwarg_definition))
        for inner in (cls.model_type, *getattr(cls.model_type, "__args__", ())):
            if not (isinstance(inner, type) and issubclass(inner, msgspec.Struct)):
                continue
            component = schema_creator.schema_registry.get_schema_for_field_definition(
                FieldDefinition.from_annotation(inner))
            if inner.__struct_config__.forbid_unknown_fields:
                component.additional_properties = False
            for key, value in getattr(inner, "openapi_extra", {}).items():
                setattr(component, key, value)
        return schema

    def decode_bytes(self, value: bytes) -> Any:
        """The body, strictly decoded."""
        return decode_strict(value, self.model_type)

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        """Only JSON bodies are documented; a form never reaches a handler using this DTO."""
        return msgspec.convert(value, self.model_type, strict=True)  # pragma: no cover
