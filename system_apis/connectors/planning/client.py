"""The planning connector: budget lines and consumption, canonical in and out.

HTTP Basic authentication (the connection's ``username``/``password``). Lists page with
``offset``/``limit``; the opaque cursor carries the offset and the filters it belongs to.
A consumption carries a deterministic ``externalReference`` and goes through
:meth:`PlatformClient.create_once`: after a timeout the adjustment is looked up by that
reference before it is booked again, and a ``duplicate.reference`` answer resolves to the
adjustment already booked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from policies.problems import Problem
from system_apis.canonical import Budget, BudgetConsumption, BudgetLine, Page, decode_cursor, encode_cursor
from system_apis.connectors.kit import ConnectionConfig, MalformedAnswer, PlatformClient, PlatformRejected
from system_apis.connectors.planning import mapping, wire
from system_apis.connectors.planning.records import BudgetConsumptionRecord, ConsumptionKind

__all__ = ["API", "PlanningConnector"]

API = "/budget/v4"

W = TypeVar("W")
C = TypeVar("C")


class PlanningConnector:
    """Talks to the planning platform for the planning system API.

    Args:
        config: Connection settings; ``username``/``password`` authenticate (HTTP Basic).
        transport: ``httpx.ASGITransport(app=sandbox)`` in embedded mode, ``None`` for the network.
    """

    name = "planning"

    def __init__(self, config: ConnectionConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = PlatformClient(self.name, config, transport=transport)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    def _map(self, convert: Callable[[W], C], value: W) -> C:
        try:
            return convert(value)
        except ValueError as exc:
            raise MalformedAnswer(f"the platform's data is not valid: {exc}", platform=self.name) from exc

    async def list_lines(self, *, company_code: str | None = None, cost_center: str | None = None,
                         fiscal_year: int | None = None, period: int | None = None, cursor: str | None = None,
                         limit: int = 50) -> Page[BudgetLine]:
        """Budget lines, filtered by entity, cost center, fiscal year and period (period needs the year)."""
        if period is not None and fiscal_year is None:
            # Each parameter alone is well-formed; only their combination is meaningless (422).
            raise Problem(422, "query.period: give fiscal_year together with period", kind="unprocessable",
                          title="Unprocessable request")
        filters: dict[str, Any] = {k: v for k, v in {
            "entity": company_code, "costCenter": cost_center,
            "fiscalYear": fiscal_year if period is None else None,
            "fiscalPeriodName": mapping.period_name(fiscal_year, period) if fiscal_year and period else None,
        }.items() if v is not None}
        offset = _offset(cursor, filters)
        params = {**{k: str(v) for k, v in filters.items()}, "offset": str(offset), "limit": str(limit)}
        response = await self.http.request("GET", f"{API}/budgetItemDetail", params=params)
        answer = self.http.decode(response, wire.DetailPage)
        items = [self._map(mapping.line_to_canonical, detail) for detail in answer.budget_item_details]
        following = offset + len(answer.budget_item_details)
        more = following < answer.total_rows and bool(answer.budget_item_details)
        return Page(items=items, next_cursor=encode_cursor({"o": following, "f": filters}) if more else None)

    async def get_line(self, line_id: str) -> BudgetLine:
        """One budget line with what is consumed so far."""
        response = await self.http.request("GET", f"{API}/budgetItemDetail/{_segment(line_id)}")
        return self._map(mapping.line_to_canonical, self.http.decode(response, wire.BudgetItemDetail))

    async def get_budget(self, budget_id: str) -> Budget:
        """One budget at its active version, with its lines."""
        response = await self.http.request("GET", f"{API}/budgetItemHeader/{_segment(budget_id)}")
        return self._map(mapping.budget_to_canonical, self.http.decode(response, wire.BudgetItemHeader))

    async def _find_adjustment(self, external_reference: str) -> wire.BudgetAdjustment | None:
        params = {"externalReference": external_reference, "limit": "1"}
        response = await self.http.request("GET", f"{API}/adjustments", params=params)
        found = self.http.decode(response, wire.AdjustmentPage).adjustments
        return found[0] if found else None

    async def record_consumption(self, line_id: str, kind: ConsumptionKind, consumption: BudgetConsumption, *,
                                 external_reference: str) -> BudgetConsumptionRecord:
        """Book a commitment or an actual on a line, once per ``external_reference``."""
        body = [mapping.adjustment_create(_segment(line_id), kind, consumption,
                                          external_reference=external_reference, today=dt.datetime.now(dt.UTC).date())]

        async def find() -> wire.BudgetAdjustment | None:
            return await self._find_adjustment(external_reference)

        async def create() -> wire.BudgetAdjustment:
            try:
                response = await self.http.request("POST", f"{API}/adjustments", json=body, retry=False,
                                                   params={"useMonthlyRollingUpdate": "false"})
            except PlatformRejected as exc:
                if exc.platform_status == 409:  # booked before, answer lost: it exists
                    found = await find()
                    if found is not None:
                        return found
                raise
            saved = self.http.decode(response, list[wire.BudgetAdjustment])
            if len(saved) != 1:
                raise MalformedAnswer(f"booked {len(saved)} adjustments for one", platform=self.name)
            return saved[0]

        booked = await self.http.create_once(create, find)
        return self._map(mapping.adjustment_to_record, booked)

    async def find_consumption(self, external_reference: str) -> BudgetConsumptionRecord | None:
        """The consumption booked with ``external_reference``, if any."""
        found = await self._find_adjustment(external_reference)
        return None if found is None else self._map(mapping.adjustment_to_record, found)

    async def list_consumption(self, line_id: str, *, cursor: str | None = None,
                               limit: int = 50) -> Page[BudgetConsumptionRecord]:
        """What was booked on a line, oldest first."""
        filters = {"budgetItemDetailId": _segment(line_id)}
        offset = _offset(cursor, filters)
        params = {**filters, "offset": str(offset), "limit": str(limit)}
        answer = self.http.decode(await self.http.request("GET", f"{API}/adjustments", params=params),
                                  wire.AdjustmentPage)
        items = [self._map(mapping.adjustment_to_record, a) for a in answer.adjustments]
        following = offset + len(answer.adjustments)
        more = following < answer.total_rows and bool(answer.adjustments)
        return Page(items=items, next_cursor=encode_cursor({"o": following, "f": filters}) if more else None)


def _segment(value: str) -> str:
    if not value or any(ch in value for ch in "/?#%\\") or value in (".", ".."):
        raise Problem(404, f"no object with id {value!r}")
    return value


def _bad_cursor(reason: str) -> Problem:
    """A cursor this API did not issue for this list: well-formed text, meaningless position (422).

    Its shape (any opaque text) is all the document can say; that the checksum holds and the
    filters match can only be checked here, so the refusal is "unprocessable", not "malformed".
    """
    return Problem(422, f"query.cursor: {reason}; use `next_cursor` of the previous page as given",
                   kind="invalid-cursor", title="Invalid cursor")


def _offset(cursor: str | None, filters: dict[str, Any]) -> int:
    if cursor is None:
        return 0
    try:
        position = decode_cursor(cursor)
    except ValueError as exc:
        raise _bad_cursor(str(exc)) from exc
    if not isinstance(position, dict) or position.get("f") != filters or not isinstance(position.get("o"), int):
        raise _bad_cursor("the cursor belongs to a list with other filters; start again without it")
    offset: int = position["o"]
    return offset
