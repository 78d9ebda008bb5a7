"""Opaque cursors refuse tampering and page every system API alike; events travel in one envelope."""

from __future__ import annotations

import base64
import datetime as dt
import re

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.problems import Problem
from system_apis.canonical import (
    EVENT_TYPES,
    Event,
    ExpenseReportStatusChanged,
    Money,
    PaymentConfirmed,
    SupplierApproved,
    decode_cursor,
    decode_event,
    encode_cursor,
    new_event,
)
from system_apis.canonical.paging import CURSOR_MAX_LENGTH, CURSOR_PATTERN
from system_apis.paging import (
    FOREIGN_CURSOR,
    Offset,
    cursor_page,
    foreign_cursor,
    list_errors,
    offset_page,
    read_cursor,
    read_offset,
)

POSITIONS = st.dictionaries(
    st.text(max_size=8),
    st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=20), st.none()),
    max_size=4,
)


class Position(msgspec.Struct):
    offset: int
    filter: str | None = None


@given(POSITIONS)
def test_cursor_round_trip(position: dict[str, object]) -> None:
    cursor = encode_cursor(position)
    assert decode_cursor(cursor) == position
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


@given(POSITIONS, st.data())
def test_any_changed_character_is_refused(position: dict[str, object], data: st.DataObject) -> None:
    cursor = encode_cursor(position)
    index = data.draw(st.integers(min_value=0, max_value=len(cursor) - 1))
    replacement = data.draw(st.sampled_from("AQgw_-.xyz0").filter(lambda c: c != cursor[index]))
    tampered = cursor[:index] + replacement + cursor[index + 1 :]
    with pytest.raises(ValueError, match="invalid cursor"):
        decode_cursor(tampered)


def test_a_hand_made_cursor_is_refused() -> None:
    forged_body = base64.urlsafe_b64encode(b'{"offset":0}').rstrip(b"=").decode()
    genuine = encode_cursor({"offset": 50})
    with pytest.raises(ValueError, match="modified or not issued"):
        decode_cursor(forged_body + "." + genuine.partition(".")[2])
    for garbage in ["", "abc", "!!!.???", "a" * 5000, "eyJ9.AAAA"]:
        with pytest.raises(ValueError, match="invalid cursor"):
            decode_cursor(garbage)


def test_cursor_from_another_key_is_refused() -> None:
    cursor = encode_cursor({"offset": 10}, key=b"deployment-a")
    assert decode_cursor(cursor, key=b"deployment-a") == {"offset": 10}
    with pytest.raises(ValueError, match="modified or not issued"):
        decode_cursor(cursor)


def test_typed_cursor() -> None:
    cursor = encode_cursor(Position(offset=20, filter="DE01"))
    assert decode_cursor(cursor, Position) == Position(offset=20, filter="DE01")
    with pytest.raises(ValueError, match="unexpected content"):
        decode_cursor(encode_cursor({"offset": "twenty"}), Position)


@given(POSITIONS)
def test_every_issued_cursor_has_the_documented_shape(position: dict[str, object]) -> None:
    cursor = encode_cursor(position)
    assert re.fullmatch(CURSOR_PATTERN, cursor)
    assert len(cursor) <= CURSOR_MAX_LENGTH


def test_read_cursor_refuses_with_the_one_problem() -> None:
    assert read_cursor(None, Position) is None
    assert read_cursor(encode_cursor(Position(offset=3)), Position) == Position(offset=3)
    for foreign in ["Zm9yZ2Vk.AAAAAAAAAAAAAAAA", encode_cursor({"after": "x"}), encode_cursor({"offset": 1}, key=b"k")]:
        with pytest.raises(Problem) as refused:
            read_cursor(foreign, Position)
        problem = refused.value
        assert (problem.status, problem.kind) == (422, "invalid-cursor")
        assert problem.detail.startswith("query.cursor: not a cursor issued by this API (")
        assert [p.name for p in problem.invalid_params] == ["query.cursor"]
    assert foreign_cursor().invalid_params[0].reason == "not a cursor issued by this API"
    assert foreign_cursor("other filters").invalid_params[0].reason == "not a cursor issued by this API (other filters)"


def test_offset_pages() -> None:
    assert read_offset(None) == 0
    first = offset_page([1, 2], offset=0, more=True)
    assert first.items == [1, 2]
    assert first.next_cursor is not None
    assert read_offset(first.next_cursor) == 2
    assert decode_cursor(first.next_cursor) == {"offset": 2}  # the position cursors already issued carry
    assert offset_page([3], offset=2, more=False).next_cursor is None
    assert offset_page([], offset=2, more=True).next_cursor is None  # never a cursor that pages in place
    with pytest.raises(Problem):
        read_offset(encode_cursor(Offset(0))[:-1] + "A")
    with pytest.raises(Problem):
        read_offset(encode_cursor({"offset": -1}))
    assert cursor_page(["a"], None).next_cursor is None
    assert decode_cursor(cursor_page(["a"], {"after": "a"}).next_cursor or "") == {"after": "a"}


def test_list_errors_add_the_cursor_422() -> None:
    plain = list_errors({})
    assert set(plain) == {422}
    assert plain[422].description == FOREIGN_CURSOR + "."
    also = list_errors({502: plain[422]}, also="period is given without fiscal_year")
    assert set(also) == {422, 502}
    assert also[422].description == FOREIGN_CURSOR + ", or period is given without fiscal_year."


def test_event_envelope_round_trip_for_each_kind() -> None:
    at = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    payloads = [
        SupplierApproved(supplier_id="S-1", name="ACME"),
        ExpenseReportStatusChanged(report_id="R1", employee_id="E1", old_status="approved", new_status="paid"),
        PaymentConfirmed(payment_id="P1", amount=Money.of("99.95", "GBP"), value_date=at.date(), obligation_ids=["O1"]),
    ]
    for payload in payloads:
        event = new_event(payload, source="sandbox", occurred_at=at, subject="x")
        assert event.type == payload.event_type
        assert event.occurred_at.tzinfo is dt.UTC
        decoded = decode_event(msgspec.json.encode(event))
        assert decoded == event
        assert type(decoded.data) is type(payload)


def test_event_types_are_unique_and_named_by_domain() -> None:
    assert len(EVENT_TYPES) >= 10
    assert all("." in name for name in EVENT_TYPES)
    assert EVENT_TYPES["expense_report.status_changed"] is ExpenseReportStatusChanged


def test_event_envelope_refuses_mismatches_and_naive_times() -> None:
    now = dt.datetime.now(dt.UTC)
    data = SupplierApproved(supplier_id="1", name="A")
    with pytest.raises(ValueError, match="does not match"):
        Event(id="1", type="payment.confirmed", occurred_at=now, source="x", data=data)
    with pytest.raises(ValueError, match="timezone-aware"):
        new_event(SupplierApproved(supplier_id="1", name="A"), source="x", occurred_at=dt.datetime(2025, 1, 1))
    with pytest.raises(msgspec.ValidationError, match=r"unknown event type 'supplier\.deleted'"):
        decode_event(b'{"id":"1","type":"supplier.deleted","occurred_at":"2025-01-01T00:00:00Z","source":"x","data":{}}')
    with pytest.raises(msgspec.ValidationError, match="Invalid enum value 'lost'"):
        decode_event(
            b'{"id":"1","type":"expense_report.status_changed","occurred_at":"2025-01-01T00:00:00Z",'
            b'"source":"x","data":{"report_id":"1","employee_id":"2","new_status":"lost"}}'
        )
