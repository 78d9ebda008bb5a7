"""The planning sandbox's deterministic data set.

Fiscal year 2026 in twelve monthly periods (January closed); one budget per legal entity and
cost center (30 cost centers over the entities), each with a monthly line per period; every
fifth budget has a second version (a reforecast). January carries actuals and commitments,
and one line — US01 / 1000 Marketing, 2026-02 — is near exhausted (96 % consumed).
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

from platforms.kit.seeddata import legal_entities
from platforms.kit.store import Store

__all__ = ["COST_CENTERS", "FISCAL_YEAR", "NEAR_EXHAUSTED", "seed"]

FISCAL_YEAR = 2026
_STAMP = "2026-01-05T08:00:00Z"
COST_CENTERS = ("1000 Marketing", "1100 Sales", "1200 Research", "2000 Finance", "2100 Human Resources",
                "2200 IT", "3000 Facilities", "3100 Legal")
NEAR_EXHAUSTED = ("US01", "1000", f"{FISCAL_YEAR}-02")
"""(entity, cost center, period) of the line that is 96 % consumed."""


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _periods(rng: random.Random, year_id: str) -> list[dict[str, Any]]:
    periods = []
    for month in range(1, 13):
        last = calendar.monthrange(FISCAL_YEAR, month)[1]
        periods.append({
            "id": _uuid(rng), "name": f"{FISCAL_YEAR}-{month:02d}", "periodType": "MONTHLY",
            "startDate": dt.date(FISCAL_YEAR, month, 1).isoformat(),
            "endDate": dt.date(FISCAL_YEAR, month, last).isoformat(),
            "spendDate": dt.date(FISCAL_YEAR, month, last).isoformat(),
            "fiscalPeriodStatus": "CLOSED" if month == 1 else "OPEN", "fiscalYearSyncGuid": year_id,
        })
    return periods


def seed(store: Store, rng: random.Random) -> None:
    """Fill an empty store (the kit calls this on first start and on reset)."""
    year_id = _uuid(rng)
    periods = _periods(rng, year_id)
    store.put("fiscal_years", year_id, {
        "id": year_id, "syncGuid": year_id, "name": f"FY{FISCAL_YEAR}", "displayName": f"Fiscal year {FISCAL_YEAR}",
        "startDate": f"{FISCAL_YEAR}-01-01", "endDate": f"{FISCAL_YEAR}-12-31", "status": "OPEN",
        "currentYear": True, "monthlyFiscalPeriods": periods,
    })
    entities = legal_entities()
    # 30 cost centers: all eight for the first three entities, six for the fourth.
    plan = [(entity, center) for index, entity in enumerate(entities)
            for center in (COST_CENTERS if index < 3 else COST_CENTERS[:6])][:30]
    for number, (entity, center) in enumerate(plan):
        code, _, center_name = center.partition(" ")
        header_id = _uuid(rng)
        scale = 100 if entity.currency == "JPY" else 1
        monthly = [Decimal(rng.randrange(20, 120) * 500 * scale) for _ in periods]
        versions: list[tuple[int, str, str, list[Decimal]]] = [(1, "Original", f"{FISCAL_YEAR}-01-01", monthly)]
        if number % 5 == 4:
            reforecast = [(a * Decimal("1.1")).quantize(Decimal(1)) if i >= 3 else a for i, a in enumerate(monthly)]
            versions.append((2, "Q1 reforecast", f"{FISCAL_YEAR}-03-31", reforecast))
        current = versions[-1]
        if (entity.code, code) == NEAR_EXHAUSTED[:2]:
            current[3][1] = Decimal(10000)
        cost_objects = [
            {"listName": "Legal Entity", "code": entity.code, "value": entity.code, "displayName": entity.name},
            {"listName": "Cost Center", "code": code, "value": code, "displayName": center_name},
        ]
        name = f"{entity.code} {code} {center_name} FY{FISCAL_YEAR}"
        header = {
            "id": header_id, "syncGuid": header_id, "name": name,
            "description": f"{center_name} budget of {entity.name}",
            "budgetType": "BUDGET", "budgetItemStatusType": "OPEN", "active": True, "currencyCode": entity.currency,
            "fiscalYearId": year_id, "fiscalYearName": f"FY{FISCAL_YEAR}", "periodType": "MONTHLY",
            "costObjects": cost_objects, "annualBudget": str(sum(current[3], Decimal(0))),
            "budgetVersion": {"number": current[0], "name": current[1], "effectiveDate": current[2]},
            "createdDate": _STAMP, "lastModifiedDate": _STAMP,
        }
        store.put("budget_headers", header_id, header)
        for version_number, version_name, effective, amounts in versions:
            store.put("budget_versions", f"{header_id}:{version_number}", {
                "budgetItemHeaderId": header_id, "number": version_number, "name": version_name,
                "effectiveDate": effective, "status": "ACTIVE" if version_number == current[0] else "SUPERSEDED",
                "annualBudget": str(sum(amounts, Decimal(0))),
                "amounts": [{"fiscalPeriodName": p["name"], "amount": str(a)}
                            for p, a in zip(periods, amounts, strict=True)],
            })
        for period, amount in zip(periods, current[3], strict=True):
            detail_id = _uuid(rng)
            spent = pending = Decimal(0)
            if period["name"].endswith("-01"):
                spent = (amount * Decimal(rng.randrange(60, 95)) / 100).quantize(Decimal(1))
            if (entity.code, code, period["name"]) == NEAR_EXHAUSTED:
                spent, pending = Decimal(7600), Decimal(2000)
            store.put("budget_details", detail_id, {
                "id": detail_id, "syncGuid": detail_id, "budgetItemHeaderId": header_id,
                "budgetItemHeaderSyncGuid": header_id, "budgetName": name, "amount": str(amount),
                "currencyCode": entity.currency, "fiscalPeriodId": period["id"], "fiscalPeriod": period,
                "budgetItemDetailStatusType": period["fiscalPeriodStatus"], "costObjects": cost_objects,
                "versionNumber": current[0], "spendAmount": str(spent), "pendingAmount": str(pending),
            })
            for amount_type, value in (("SPENT_AMOUNT", spent), ("PENDING_AMOUNT", pending)):
                if value:
                    adjustment_id = _uuid(rng)
                    store.put("adjustments", adjustment_id, {
                        "id": adjustment_id, "externalReference": f"SEED-{adjustment_id[:8]}",
                        "budgetItemDetailId": detail_id, "budgetItemName": name,
                        "fiscalPeriodName": period["name"], "amountType": amount_type,
                        "adjustmentType": "EXPENSE" if amount_type == "SPENT_AMOUNT" else "PURCHASE_REQUEST",
                        "amount": str(value), "currencyCode": entity.currency,
                        "description": "Seeded consumption", "transactionDate": period["startDate"],
                        "createdDate": _STAMP,
                    })
