"""The kit's strict body decoder: no coercion, JSON Schema's integers, field paths, the vendor's refusal."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

import httpx
import msgspec
import pytest
from litestar import Litestar, Response, post
from litestar.exceptions import HTTPException
from litestar.params import JSONBody

from platforms.kit.bodies import BodyError, StrictBody, convert_strict, decode_strict, parse_json


class Line(msgspec.Struct, forbid_unknown_fields=True):
    quantity: int
    price: Decimal


class Order(msgspec.Struct, forbid_unknown_fields=True, rename="kebab"):
    on_hold: bool
    lines: list[Line]
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class Open(msgspec.Struct):
    name: str


def raised(function: Callable[..., Any], *args: Any) -> BodyError:
    with pytest.raises(BodyError) as caught:
        function(*args)
    return caught.value


def refused(raw: bytes, type_: Any = Order, form: Any = None) -> BodyError:
    return raised(decode_strict, raw, type_, form)


@pytest.mark.parametrize(("raw", "path", "problem"), [
    (b'{"on-hold": "true", "lines": []}', "on-hold", "Expected `bool`, got `str`"),
    (b'{"on-hold": 0, "lines": []}', "on-hold", "Expected `bool`, got `int`"),
    (b'{"on-hold": true, "lines": [{"quantity": "7", "price": 1}]}', "lines[0].quantity",
     "Expected `int`, got `str`"),
    (b'{"on-hold": true, "lines": [{"quantity": 7.5, "price": 1}]}', "lines[0].quantity",
     "Expected `int`, got `float`"),
    (b'{"on-hold": true, "lines": [], "colour": "red"}', None, "Object contains unknown field `colour`"),
    (b"[]", None, "Expected `object`, got `array`"),
    (b"", None, "Expected `object`, got `null`"),
    (b'{"on-hold": ', None, "not valid JSON: Input data was truncated"),
    (b'{"on-hold": true, "lines": [], "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}", None, "nested too deeply"),
    (b"[" * 5000 + b"]" * 5000, None, "nested too deeply"),
])
def test_bodies_are_refused_without_coercion_naming_the_field(raw: bytes, path: str | None, problem: str) -> None:
    error = refused(raw)
    assert (error.path, error.problem) == (path, problem)
    assert str(error) == f"{path or 'body'}: {problem}"
    assert error.where == (path or "body")


def test_a_number_with_a_zero_fraction_is_an_integer_and_decimals_keep_their_digits() -> None:
    raw = b'{"on-hold": false, "lines": [{"quantity": 45.0, "price": 0.10}, {"quantity": 1e3, "price": 1.0}]}'
    order = decode_strict(raw, Order)
    assert [(line.quantity, line.price) for line in order.lines] == [(45, Decimal("0.10")), (1000, Decimal("1"))]
    assert str(order.lines[0].price) == "0.10"  # read as written, never through a float
    big = b'{"on-hold": false, "lines": [{"quantity": 1.0, "price": 123456789012345678901234567890.5}]}'
    assert decode_strict(big, Order).lines[0].price == Decimal("123456789012345678901234567890.5")
    # an integral number too wide for an int, or one with a fraction, is still no integer
    assert refused(b'{"on-hold": true, "lines": [{"quantity": 1e30, "price": 1}]}').path == "lines[0].quantity"
    assert refused(b'{"on-hold": true, "lines": [{"quantity": 1e99999999999, "price": 1}]}').path == "lines[0].quantity"


def test_a_form_checks_the_same_bytes_for_what_the_type_cannot_say() -> None:
    form = Annotated[list[Open], msgspec.Meta(min_length=1)]
    assert decode_strict(b'[{"name": "a", "other": 1}]', list[Open], form) == [Open("a")]
    assert refused(b"[]", list[Open], form).path is None
    assert refused(b'[{"name": 5.0}]', list[Open], form).path == "[0].name"


def test_parsed_values_and_raw_json() -> None:
    assert convert_strict({"on-hold": True, "lines": [{"quantity": 2.0, "price": "1.5"}]}, Order).lines == [
        Line(2, Decimal("1.5"))]
    assert convert_strict(3.0, int) == 3
    error = raised(convert_strict, {"on-hold": "true", "lines": []}, Order)
    assert (error.path, error.problem) == ("on-hold", "Expected `bool`, got `str`")
    assert parse_json(b'{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    assert raised(parse_json, b"{").problem.startswith("not valid JSON")
    assert raised(parse_json, b"[" * 5000 + b"]" * 5000).problem == "nested too deeply"


class Teapot(HTTPException):
    status_code = 418


class TeapotBody(StrictBody[Any]):
    @classmethod
    def refuse(cls, error: BodyError) -> Exception:
        return Teapot(detail=f"refused {error}")


@post("/default", dto=StrictBody[Order], return_dto=None, sync_to_thread=False)
def default(data: JSONBody[Order]) -> dict[str, Any]:
    return {"on-hold": data.on_hold, "quantities": [line.quantity for line in data.lines]}


@post("/vendor", dto=TeapotBody[Order], return_dto=None, sync_to_thread=False)
def vendor(data: JSONBody[Order]) -> bool:
    return data.on_hold


async def test_the_dto_decodes_strictly_documents_the_type_and_refuses_the_vendors_way() -> None:
    def extra_of(_: Any, exc: HTTPException) -> Response[Any]:
        return Response({"detail": exc.detail, "extra": exc.extra}, status_code=exc.status_code)

    app = Litestar([default, vendor], exception_handlers={HTTPException: extra_of})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kit") as http:
        ok = await http.post("/default", json={"on-hold": True, "lines": [{"quantity": 2.0, "price": 1}]})
        assert (ok.status_code, ok.json()) == (201, {"on-hold": True, "quantities": [2]})
        bad = await http.post("/default", json={"on-hold": "true", "lines": []})
        assert bad.status_code == 400
        assert bad.json()["extra"] == [{"key": "on-hold", "message": "Expected `bool`, got `str`", "source": "body"}]
        form = await http.post("/default", data={"on-hold": "true", "lines": "x"})
        assert form.status_code == 400  # a form is converted without coercion too
        teapot = await http.post("/vendor", content=b"[", headers={"content-type": "application/json"})
        assert teapot.status_code == 418
        assert teapot.json()["detail"] == "refused body: not valid JSON: Input data was truncated"
        document = (await http.get("/schema/openapi.json")).json()
    body = document["paths"]["/default"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Order"}
    schemas = document["components"]["schemas"]
    assert schemas["Order"]["additionalProperties"] is False
    assert schemas["Line"]["additionalProperties"] is False  # nested Structs are closed too
    assert schemas["Order"]["properties"]["on-hold"]["type"] == "boolean"
