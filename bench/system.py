"""The system tier's benchmark (issue 3, item 6): what ``run.py --only system`` measures.

Two things:

* a system API GET through the whole chain against the same data fetched straight from the
  ERP sandbox run alone: ``GET /system/erp/v1/suppliers/{id}`` (and a 20-item list page) on
  the governed gateway, against the OData request its connector sends for it
  (``A_BusinessPartner`` with the same ``$filter``/``$top``/``$orderby``/``$expand``, Basic
  auth) on ``platforms.erp.app:create_app`` served by its own uvicorn;
* listing 10,000 suppliers page by page (``limit=200``, following ``next_cursor``) on a
  gateway whose ERP sandbox was seeded with 10,000 suppliers, sampling the gateway process's
  resident memory (``VmRSS``) after every page.

This module holds the requests, the checks and the paging walk; ``run.py`` serves, loads
and reports.
"""

from __future__ import annotations

import base64
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from platforms.kit.config import SandboxConfig
from system_apis.connectors.erp.client import ODATA_ROOT, SUPPLIER_EXPAND

__all__ = [
    "DIRECT_GET",
    "DIRECT_LIST",
    "ERP_CONNECTION",
    "LIST_LIMIT",
    "SUPPLIER_ID",
    "SYSTEM_GET",
    "SYSTEM_LIST",
    "SYSTEM_SCOPES",
    "WALK_LIMIT",
    "WALK_SUPPLIERS",
    "Walk",
    "basic_authorization",
    "check_equivalent",
    "rss_kib",
    "walk",
]

SYSTEM_SCOPES = ("erp:suppliers:read",)
SUPPLIER_ID = "1000042"
"""A supplier of the seeded data set (seed 42) with address, tax number and company code."""
LIST_LIMIT = 20
WALK_SUPPLIERS = 10_000
WALK_LIMIT = 200
"""The system API's largest page."""

ERP_CONNECTION = {"rate": "100000/second"}
"""Connector settings of the benchmarked gateways: the outbound limit far above the run.

The shipped default (``25/second``, a polite rate for a real SAP system) would make the
benchmark measure the limiter's sleeps; every other setting keeps its default.
"""

SYSTEM_GET = f"/system/erp/v1/suppliers/{SUPPLIER_ID}"
SYSTEM_LIST = f"/system/erp/v1/suppliers?limit={LIST_LIMIT}"


def _odata(filter_: str, top: int) -> str:
    # The request ErpConnector.get_supplier / list_suppliers sends, encoded the way httpx encodes it.
    params = httpx.QueryParams(
        {"$filter": filter_, "$top": str(top), "$orderby": "BusinessPartner", "$expand": SUPPLIER_EXPAND}
    )
    return f"{ODATA_ROOT}/API_BUSINESS_PARTNER/A_BusinessPartner?{params}"


DIRECT_GET = _odata(f"Supplier eq '{SUPPLIER_ID}'", 1)
DIRECT_LIST = _odata("Supplier ne ''", LIST_LIMIT + 1)
"""The connector asks for one more than the page to know whether another page follows."""


def basic_authorization(config: SandboxConfig | None = None) -> str:
    """The ``Authorization`` header of the sandbox's Basic user (the connector's credentials)."""
    config = config or SandboxConfig()
    return "Basic " + base64.b64encode(f"{config.username}:{config.password}".encode()).decode("ascii")


def check_equivalent(direct_base: str, system_base: str, token: str) -> str:
    """Check that both sides answer the same suppliers, and that the chain really runs.

    Returns:
        A one-line summary for the report.

    Raises:
        SystemExit: an answer is not what the benchmark assumes.
    """
    basic = {"Authorization": basic_authorization()}
    bearer = {"Authorization": f"Bearer {token}"}
    one = httpx.get(direct_base + DIRECT_GET, headers=basic, timeout=30)
    mine = httpx.get(system_base + SYSTEM_GET, headers=bearer, timeout=30)
    if one.status_code != 200 or mine.status_code != 200:
        raise SystemExit(f"supplier GET: direct {one.status_code} {one.text[:200]}, system {mine.status_code}")
    partner = one.json()["d"]["results"][0]
    supplier = mine.json()
    if partner["BusinessPartner"] != SUPPLIER_ID or supplier["id"] != SUPPLIER_ID:
        raise SystemExit(f"supplier GET answered {partner['BusinessPartner']} and {supplier['id']}")
    if "ratelimit-policy" not in mine.headers:
        raise SystemExit("the system API answered without the throttling policy: is the chain running?")
    if httpx.get(system_base + SYSTEM_GET, timeout=30).status_code != 401:
        raise SystemExit("the system API answered a call without a token")
    direct_page = httpx.get(direct_base + DIRECT_LIST, headers=basic, timeout=30)
    system_page = httpx.get(system_base + SYSTEM_LIST, headers=bearer, timeout=30)
    partners = direct_page.json()["d"]["results"]
    direct_ids = [p["BusinessPartner"] for p in partners[:LIST_LIMIT]]
    system_ids = [s["id"] for s in system_page.json()["items"]]
    if len(partners) != LIST_LIMIT + 1 or direct_ids != system_ids:
        raise SystemExit(f"list pages differ: direct {direct_ids} system {system_ids}")
    return (
        f"the system API and the sandbox answer the same supplier {SUPPLIER_ID} ({len(one.content):,} bytes of "
        f"OData, {len(mine.content):,} bytes canonical) and the same {LIST_LIMIT} suppliers on the list page "
        f"({len(direct_page.content):,} bytes of OData for {LIST_LIMIT + 1} partners, "
        f"{len(system_page.content):,} bytes canonical); a call without a token is refused with 401"
    )


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit(f"no VmRSS for process {pid}")


@dataclass
class Pass:
    """One walk over every page."""

    number: int
    rss_start_kib: int
    pages: int = 0
    items: int = 0
    bytes: int = 0
    """Bytes of JSON the pages carried."""
    seconds: float = 0.0
    page_seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    """RSS after each page."""
    ids: list[str] = field(default_factory=list)

    @property
    def rss_max_kib(self) -> int:
        return max([self.rss_start_kib, *self.rss_kib])

    @property
    def rss_end_kib(self) -> int:
        return self.rss_kib[-1] if self.rss_kib else self.rss_start_kib

    @property
    def second_half_growth_kib(self) -> int:
        """RSS growth between the middle page and the last one: zero if memory does not grow with pages."""
        half = len(self.rss_kib) // 2
        return self.rss_kib[-1] - self.rss_kib[half - 1] if half else 0

    @property
    def median_page_ms(self) -> float:
        return statistics.median(self.page_seconds) * 1000 if self.page_seconds else 0.0


@dataclass
class Walk:
    """Everything the paging walk measured."""

    rss_idle_kib: int
    passes: list[Pass] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


def walk(base: str, token: str, pid: int, *, passes: int = 2, limit: int = WALK_LIMIT) -> Walk:
    """Page through every supplier ``passes`` times, sampling the server's RSS after each page.

    The first pass starts the embedded sandbox (its first request opens the store); the
    second shows whether memory keeps growing once everything is warm.
    """
    result = Walk(rss_idle_kib=rss_kib(pid))
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        for number in range(1, passes + 1):
            current = Pass(number=number, rss_start_kib=rss_kib(pid))
            cursor: str | None = None
            clock = time.monotonic()
            while True:
                params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
                started = time.monotonic()
                answer = client.get("/system/erp/v1/suppliers", params=params)
                current.page_seconds.append(time.monotonic() - started)
                current.rss_kib.append(rss_kib(pid))
                result.statuses[answer.status_code] = result.statuses.get(answer.status_code, 0) + 1
                if answer.status_code != 200:
                    raise SystemExit(f"page {current.pages + 1} answered {answer.status_code}: {answer.text[:300]}")
                page = json.loads(answer.content)
                current.pages += 1
                current.items += len(page["items"])
                current.bytes += len(answer.content)
                current.ids.extend(item["id"] for item in page["items"])
                cursor = page["next_cursor"]
                if not cursor:
                    break
            current.seconds = time.monotonic() - clock
            result.passes.append(current)
    return result
