"""The expense sandbox behaves like SAP Concur: auth, paging, workflow, payment status, events, persistence."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from standardwebhooks import Webhook

from gateway.lifespan import lifespan
from platforms.expense import create_app
from platforms.kit import DEFAULT_WEBHOOK_SECRET, SandboxConfig, SandboxState, WebhookSender

BASE = "http://sandbox.expense"
REPORTS = "/api/v3.0/expense/reports"


class Receiver:
    """An ASGI webhook endpoint that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.received.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def events(self) -> list[dict[str, Any]]:
        """Verified payloads (raises if a signature is wrong)."""
        webhook = Webhook(DEFAULT_WEBHOOK_SECRET)
        return [webhook.verify(body, headers) for headers, body in self.received]


async def token(http: httpx.AsyncClient) -> dict[str, str]:
    answer = await http.post(
        "/oauth2/v0/token", data={"grant_type": "client_credentials"}, auth=("finrail", "sandbox-secret")
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def client_for(app: Litestar) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http, await token(http)


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    async for pair in client_for(create_app()):
        yield pair


async def first(http: httpx.AsyncClient, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    answer = await http.get(REPORTS, params={"limit": 1, **params}, headers=auth)
    assert answer.status_code == 200, answer.text
    item: dict[str, Any] = answer.json()["Items"][0]
    return item


async def test_every_call_needs_a_valid_bearer_token(sandbox: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    http, auth = sandbox
    missing = await http.get(REPORTS)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "bearer token" in missing.json()["Message"]
    forged = auth["Authorization"][:-4] + "AAAA"
    assert (await http.get(REPORTS, headers={"Authorization": forged})).status_code == 401
    wrong = await http.post("/oauth2/v0/token", data={"grant_type": "client_credentials", "client_id": "finrail",
                                                      "client_secret": "guess"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    foreign = await http.post("/oauth2/v0/token", data={"grant_type": "client_credentials", "client_id": "fïnrail",
                                                        "client_secret": "sändbox"})
    assert (foreign.status_code, foreign.json()["error"]) == (401, "invalid_client")  # not a 500
    latin = await http.get(REPORTS, headers={"Authorization": "Bearer a.\xff\xe9".encode("latin-1")})
    assert latin.status_code == 401
    assert (await http.get(REPORTS, headers=auth)).status_code == 200


async def test_pages_follow_next_page_to_the_end(sandbox: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    http, auth = sandbox
    url: str | None = f"{REPORTS}?limit=100&approvalStatusCode=A_APPR"
    seen: list[str] = []
    while url:
        page = (await http.get(url, headers=auth)).json()
        assert all(item["ApprovalStatusCode"] == "A_APPR" for item in page["Items"])
        seen.extend(item["ID"] for item in page["Items"])
        url = page.get("NextPage")
        if url:
            assert "approvalStatusCode=A_APPR" in url  # filters carry over to the next page
    assert len(seen) == len(set(seen)) > 100
    everything = (await http.get(REPORTS, params={"limit": 100, "offset": 300}, headers=auth)).json()
    assert "NextPage" not in everything  # 400 reports: the page from 300 is the last
    assert (await http.get(REPORTS, params={"limit": 101}, headers=auth)).status_code == 400


async def test_seed_covers_every_state_entity_and_several_currencies(
    sandbox: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    http, auth = sandbox
    users: list[dict[str, Any]] = []
    url: str | None = "/api/v3.0/common/users?limit=100"
    while url:
        page = (await http.get(url, headers=auth)).json()
        users.extend(page["Items"])
        url = page.get("NextPage")
    assert len(users) == 300
    assert Counter(u["LedgerCode"] for u in users) == {"US01": 100, "DE01": 100, "GB01": 100}
    assert all(u["CostCenter"] for u in users)
    states = set()
    for approval, payment in [("A_NOTF", "P_NOTP"), ("A_PEND", "P_NOTP"), ("A_RESU", "P_NOTP"),
                              ("A_APPR", "P_NOTP"), ("A_APPR", "P_PROC"), ("A_APPR", "P_PAID")]:
        report = await first(http, auth, approvalStatusCode=approval, paymentStatusCode=payment)
        states.add((report["ApprovalStatusCode"], report["PaymentStatusCode"]))
    assert len(states) == 6
    entries = (await http.get("/api/v3.0/expense/entries", params={"limit": 100}, headers=auth)).json()["Items"]
    assert {"USD", "EUR", "GBP"} <= {e["TransactionCurrencyCode"] for e in entries}
    assert len({e["ExpenseTypeCode"] for e in entries}) >= 5
    foreign = next(e for e in entries if e["ExchangeRate"] != 1)
    report = (await http.get(f"{REPORTS}/{foreign['ReportID']}", headers=auth)).json()
    assert report["CurrencyCode"] != foreign["TransactionCurrencyCode"]


async def test_same_seed_gives_the_same_data() -> None:
    pages = []
    for _ in range(2):
        async for http, auth in client_for(create_app()):
            pages.append((await http.get(REPORTS, params={"limit": 5}, headers=auth)).json())
    assert pages[0] == pages[1]


async def test_approval_posting_and_payment_send_signed_status_changed_events() -> None:
    receiver = Receiver()
    app = create_app(SandboxConfig(webhook_url="http://receiver/hooks"))
    state: SandboxState = app.state.sandbox
    state.webhooks = WebhookSender("http://receiver/hooks", DEFAULT_WEBHOOK_SECRET, lambda: state.faults,
                                   transport=httpx.ASGITransport(app=receiver))
    async for http, auth in client_for(app):
        report = await first(http, auth, approvalStatusCode="A_PEND")
        rid = report["ID"]
        action = f"/api/expense/expensereport/v1.1/report/{rid}/WorkFlowAction"
        assert (await http.post(action, json={"Action": "Approve"}, headers=auth)).json()["Status"] == "SUCCESS"
        approved = (await http.get(f"{REPORTS}/{rid}", headers=auth)).json()
        assert (approved["ApprovalStatusCode"], approved["PaymentStatusCode"]) == ("A_APPR", "P_NOTP")
        assert approved["ProcessingPaymentDate"]
        assert (await http.post(action, json={"Action": "Approve"}, headers=auth)).status_code == 409

        patch = f"/expensereports/v4/reports/{rid}"
        paid_first = await http.patch(patch, json={"paymentStatus": "P_PAID"}, headers=auth)
        assert paid_first.status_code == 409
        assert "posted" in paid_first.json()["Message"]
        for _ in range(2):  # the second time changes nothing and sends nothing
            posted = await http.patch(patch, json={"paymentStatus": "P_PROC", "externalDocumentId": "5100009999"},
                                      headers=auth)
            assert posted.status_code == 204
        other = await http.patch(patch, json={"paymentStatus": "P_PROC", "externalDocumentId": "5100000001"},
                                 headers=auth)
        assert other.status_code == 409
        assert (await http.patch(patch, json={"paymentStatus": "P_PAID"}, headers=auth)).status_code == 204
        paid = (await http.get(f"{REPORTS}/{rid}", headers=auth)).json()
        assert (paid["PaymentStatusCode"], paid["Custom20"]["Value"]) == ("P_PAID", "5100009999")
        assert paid["PaidDate"]
        await state.webhooks.drain()
        events = receiver.events()
    assert [e["type"] for e in events] == ["statusChanged"] * 3
    facts = [e["data"]["facts"] for e in events]
    assert {f["reportId"] for f in facts} == {rid}
    assert next((f["previousApprovalStatus"], f["currentApprovalStatus"]) for f in facts) == ("A_PEND", "A_APPR")
    assert [(f["previousPaymentStatus"], f["currentPaymentStatus"], f["stepCode"]) for f in facts[1:]] == [
        ("P_NOTP", "P_PROC", "POSTED"), ("P_PROC", "P_PAID", "PAIDREPORT")]
    assert events[0]["data"]["topic"] == "public.concur.expense.report"
    assert events[0]["data"]["eventType"] == "statusChanged"


async def test_state_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    config = SandboxConfig(data_path=str(tmp_path / "expense.db"))
    async for http, auth in client_for(create_app(config)):
        report = await first(http, auth, approvalStatusCode="A_NOTF")
        action = f"/api/expense/expensereport/v1.1/report/{report['ID']}/WorkFlowAction"
        assert (await http.post(action, json={"Action": "Submit"}, headers=auth)).status_code == 200
        before = auth
    async for http, _ in client_for(create_app(config)):
        again = (await http.get(f"{REPORTS}/{report['ID']}", headers=before)).json()
        assert again["ApprovalStatusCode"] == "A_PEND"
        assert again["SubmitDate"]
        count = 0
        url: str | None = f"{REPORTS}?limit=100"
        while url:
            page = (await http.get(url, headers=before)).json()
            count += len(page["Items"])
            url = page.get("NextPage")
        assert count == 400  # not seeded a second time


async def test_the_document_tells_what_the_sandbox_answers(sandbox: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    http, auth = sandbox
    document = (await http.get("/schema/openapi.json")).json()
    schemas, paths = document["components"]["schemas"], document["paths"]
    assert schemas["ReportGet"]["properties"]["Total"]["type"] == "number"  # sent as a JSON number
    listing = paths[REPORTS]["get"]["responses"]
    assert listing["200"]["content"]["application/json"]["schema"]["$ref"].endswith("ReportGet_")
    assert {"400", "401"} <= set(listing)
    assert schemas["ReportStatusPatch"]["additionalProperties"] is False

    # what the document refuses, the sandbox refuses, in Concur's error format
    for params in ({"offset": "x1"}, {"submitDateAfter": "2025-01-01T00:00:00"}, {"submitDateAfter": "0.5"}):
        refused = await http.get(REPORTS, params=params, headers=auth)
        assert refused.status_code == 400, params
        assert set(refused.json()) == {"Message", "Server-Time", "Id"}
    since_day = await http.get(REPORTS, params={"submitDateAfter": "2025-06-01"}, headers=auth)
    since_time = await http.get(REPORTS, params={"submitDateAfter": "2025-06-01T00:00:00Z"}, headers=auth)
    assert since_day.json()["Items"] == since_time.json()["Items"]  # a bare date is midnight UTC
    assert all(r["SubmitDate"] >= "2025-06-01" for r in since_day.json()["Items"])
    report = await first(http, auth, approvalStatusCode="A_APPR", paymentStatusCode="P_NOTP")
    typo = await http.patch(f"/expensereports/v4/reports/{report['ID']}",
                            json={"paymentStatus": "P_PROC", "externalDocumentID": "5100000002"}, headers=auth)
    assert typo.status_code == 400  # an unknown field is refused, not silently dropped
    assert (await http.get(f"{REPORTS}/{report['ID']}", headers=auth)).json()["PaymentStatusCode"] == "P_NOTP"

    # the token endpoint answers in OAuth2's format, whatever is wrong
    no_grant = await http.post("/oauth2/v0/token", data={"client_id": "finrail"})
    assert (no_grant.status_code, no_grant.json()["error"]) == (400, "invalid_request")
    other_grant = await http.post("/oauth2/v0/token", data={"grant_type": "password"},
                                  auth=("finrail", "sandbox-secret"))
    assert (other_grant.status_code, other_grant.json()["error"]) == (400, "unsupported_grant_type")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("WorkFlowAction", {"Action": True}, "Action"),
    ("WorkFlowAction", {"Action": "Submit", "Comment": 7}, "Comment"),
    ("v4", {"paymentStatus": "P_PROC", "externalDocumentId": 5100000002}, "externalDocumentId"),
    ("v4", {"paymentStatus": "P_PROC", "comment": True}, "comment"),
    ("v4", b'{"paymentStatus": ', "body: not valid JSON"),
    ("v4", b"[" * 5000 + b"]" * 5000, "body: nested too deeply"),
])
async def test_bodies_are_decoded_strictly_and_refused_in_concurs_shape(
    sandbox: tuple[httpx.AsyncClient, dict[str, str]], path: str, body: dict[str, Any] | bytes, field: str
) -> None:
    http, auth = sandbox
    report = await first(http, auth, approvalStatusCode="A_APPR", paymentStatusCode="P_NOTP")
    url = (f"/api/expense/expensereport/v1.1/report/{report['ID']}/WorkFlowAction" if path == "WorkFlowAction"
           else f"/expensereports/v4/reports/{report['ID']}")
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    refused = await http.request("POST" if path == "WorkFlowAction" else "PATCH", url, content=content,
                                 headers={**auth, "Content-Type": "application/json"})
    assert refused.status_code == 400, refused.text
    assert set(refused.json()) == {"Message", "Server-Time", "Id"}
    assert refused.json()["Message"].startswith(field)
    again = (await http.get(f"{REPORTS}/{report['ID']}", headers=auth)).json()
    assert (again["ApprovalStatusCode"], again["PaymentStatusCode"]) == ("A_APPR", "P_NOTP")


# --- creating reports and entries ----------------------------------------------------------------

ENTRIES = "/api/v3.0/expense/entries"


def workflow(report_id: str) -> str:
    return f"/api/expense/expensereport/v1.1/report/{report_id}/WorkFlowAction"


async def active_user(http: httpx.AsyncClient, auth: dict[str, str], ledger: str = "DE01") -> dict[str, Any]:
    """An active employee of ``ledger`` who has an approver (not a manager)."""
    page = (await http.get("/api/v3.0/common/users", params={"ledgerCode": ledger, "isActive": "true",
                                                             "limit": 100}, headers=auth)).json()
    user: dict[str, Any] = next(u for u in page["Items"] if u.get("ApproverLoginID"))
    return user


async def new_report(http: httpx.AsyncClient, auth: dict[str, str], login: str, **body: Any) -> str:
    answer = await http.post(REPORTS, params={"user": login}, json={"Name": "Chaos run", **body}, headers=auth)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"ID", "URI"}
    assert answer.json()["URI"] == f"{BASE}{REPORTS}/{answer.json()['ID']}"
    report_id: str = answer.json()["ID"]
    return report_id


def entry(report_id: str, **fields: Any) -> dict[str, Any]:
    return {"ReportID": report_id, "ExpenseTypeCode": "TAXIX", "PaymentTypeID": "CASHX",
            "TransactionDate": "2025-06-02", "TransactionAmount": 42.5, "TransactionCurrencyCode": "EUR", **fields}


async def add_entry(http: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], **params: Any) -> str:
    answer = await http.post(ENTRIES, params=params, json=body, headers=auth)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"ID", "URI"}
    assert answer.json()["URI"] == f"{BASE}{ENTRIES}/{answer.json()['ID']}"
    entry_id: str = answer.json()["ID"]
    return entry_id


async def test_a_created_report_looks_like_a_seeded_one_and_goes_through_the_workflow() -> None:
    receiver = Receiver()
    app = create_app(SandboxConfig(webhook_url="http://receiver/hooks"))
    state: SandboxState = app.state.sandbox
    state.webhooks = WebhookSender("http://receiver/hooks", DEFAULT_WEBHOOK_SECRET, lambda: state.faults,
                                   transport=httpx.ASGITransport(app=receiver))
    async for http, auth in client_for(app):
        owner = await active_user(http, auth)
        rid = await new_report(http, auth, owner["LoginID"], Comment="made by a client")
        created = (await http.get(f"{REPORTS}/{rid}", headers=auth)).json()
        draft = await first(http, auth, approvalStatusCode="A_NOTF")
        seeded = (await http.get(f"{REPORTS}/{draft['ID']}", headers=auth)).json()
        assert set(created) == set(seeded) | {"LastComment"}  # the same fields as a seeded draft
        assert (created["ApprovalStatusCode"], created["PaymentStatusCode"]) == ("A_NOTF", "P_NOTP")
        assert created["Total"] == created["TotalClaimedAmount"] == 0
        assert (created["OwnerLoginID"], created["CurrencyCode"], created["Country"]) == (owner["LoginID"], "EUR", "DE")
        assert created["OrgUnit1"] == {"Type": "List", "Value": "DE01", "Code": "DE01"}
        assert created["OrgUnit2"]["Code"] == owner["CostCenter"]
        assert (created["ApproverLoginID"], created["PolicyID"]) == (owner["ApproverLoginID"], "POL-DE01")
        assert created["LastComment"] == "made by a client"
        assert created["WorkflowActionUrl"].endswith(workflow(rid))
        mine = (await http.get(REPORTS, params={"user": owner["LoginID"], "limit": 100}, headers=auth)).json()
        assert rid in {r["ID"] for r in mine["Items"]}

        refused = await http.post(workflow(rid), json={"Action": "Submit"}, headers=auth)
        assert refused.status_code == 409  # nothing to submit yet
        assert "no expense entries" in refused.json()["Message"]

        taxi = await add_entry(http, auth, entry(rid, VendorDescription="City Cab", Description="Taxi Berlin"))
        flight = await add_entry(http, auth, entry(rid, ExpenseTypeCode="AIRFR", PaymentTypeID="IBCP",
                                                   TransactionAmount=540, TransactionCurrencyCode="USD",
                                                   TransactionDate="2025-06-01T18:30:00-07:00"),
                                 user=owner["LoginID"])
        await add_entry(http, auth, entry(rid, ExpenseTypeCode="BUSML", TransactionAmount=1200,
                                          TransactionCurrencyCode="JPY", ExchangeRate=0.0061234567, IsPersonal=True))
        got = {e["ID"]: e for e in (await http.get(ENTRIES, params={"reportID": rid}, headers=auth)).json()["Items"]}
        assert set(got) >= {taxi, flight}
        assert len(got) == 3
        assert got[taxi]["PostedAmount"] == got[taxi]["TransactionAmount"] == 42.5
        assert (got[taxi]["ExchangeRate"], got[taxi]["ExpenseTypeName"], got[taxi]["SpendCategoryCode"]) == (1, "Taxi",
                                                                                                          "GRTRN")
        assert got[taxi]["ReportOwnerID"] == owner["LoginID"]
        assert (got[flight]["ExchangeRate"], got[flight]["PostedAmount"]) == (0.925926, 500.0)  # the site's rate
        assert got[flight]["TransactionDate"] == "2025-06-01T00:00:00Z"  # its own date, at midnight UTC
        meal = next(e for e in got.values() if e["ExpenseTypeCode"] == "BUSML")
        assert (meal["ExchangeRate"], meal["PostedAmount"], meal["ApprovedAmount"]) == (0.006123, 7.35, 0)
        seeded_entry = (await http.get(ENTRIES, params={"limit": 1}, headers=auth)).json()["Items"][0]
        assert set(got[taxi]) <= set(seeded_entry) | {"IsPersonal", "IsBillable"}

        report = (await http.get(f"{REPORTS}/{rid}", headers=auth)).json()
        assert report["Total"] == 549.85  # 42.50 + 500.00 + 7.35
        assert report["PersonalAmount"] == 7.35
        assert report["TotalClaimedAmount"] == report["TotalApprovedAmount"] == 542.5
        assert (report["AmountDueCompanyCard"], report["AmountDueEmployee"]) == (500, 42.5)

        for action in ("Submit", "Approve"):
            answer = await http.post(workflow(rid), json={"Action": action}, headers=auth)
            assert answer.json() == {"Message": "SUCCESS", "Status": "SUCCESS"}
        late = await http.post(ENTRIES, json=entry(rid), headers=auth)
        assert late.status_code == 409  # approved: no more entries
        assert (await http.patch(f"/expensereports/v4/reports/{rid}", json={"paymentStatus": "P_PROC"},
                                 headers=auth)).status_code == 204
        approved = (await http.get(f"{REPORTS}/{rid}", headers=auth)).json()
        assert (approved["ApprovalStatusCode"], approved["PaymentStatusCode"]) == ("A_APPR", "P_PROC")
        assert approved["Total"] == 549.85
        await state.webhooks.drain()
        events = receiver.events()
    facts = [e["data"]["facts"] for e in events]
    assert [(f["reportId"], f["currentApprovalStatus"], f["currentPaymentStatus"]) for f in facts] == [
        (rid, "A_PEND", "P_NOTP"), (rid, "A_APPR", "P_NOTP"), (rid, "A_APPR", "P_PROC")]
    assert facts[0]["userId"] == owner["ID"]


@pytest.mark.parametrize(("params", "body", "status", "message"), [
    ({}, {"Name": "x"}, 400, "user"),  # company-level token: the owner must be named
    ({"user": "nobody@example.com"}, {"Name": "x"}, 404, "user nobody@example.com was not found"),
    ({"user": "OWNER"}, {}, 400, "body: Object missing required field `Name`"),
    ({"user": "OWNER"}, {"Name": ""}, 400, "Name"),
    ({"user": "OWNER"}, {"Name": "x", "Nmae": "y"}, 400, "body: Object contains unknown field `Nmae`"),
    ({"user": "OWNER"}, {"Name": 7}, 400, "Name: Expected `str`, got `int`"),
    ({"user": "OWNER"}, {"Name": "x", "UserDefinedDate": "2025-02-30"}, 400, "UserDefinedDate"),
    ({"user": "OWNER"}, {"Name": "x", "OrgUnit1": "US01"}, 422, "OrgUnit1"),
    ({"user": "OWNER"}, {"Name": "x", "OrgUnit2": "US1000"}, 422, "OrgUnit2"),
    ({"user": "OWNER"}, {"Name": "x", "PolicyID": "POL-GB01"}, 422, "PolicyID"),
    ({"user": "OWNER"}, {"Name": "x", "Custom20": "5100000001"}, 422, "Custom20"),
])
async def test_report_creates_are_checked(
    sandbox: tuple[httpx.AsyncClient, dict[str, str]], params: dict[str, str], body: dict[str, Any], status: int,
    message: str,
) -> None:
    http, auth = sandbox
    owner = await active_user(http, auth)
    params = {k: owner["LoginID"] if v == "OWNER" else v for k, v in params.items()}
    refused = await http.post(REPORTS, params=params, json=body, headers=auth)
    assert refused.status_code == status, refused.text
    assert set(refused.json()) == {"Message", "Server-Time", "Id"}
    assert message in refused.json()["Message"]
    mine = (await http.get(REPORTS, params={"user": owner["LoginID"], "limit": 100}, headers=auth)).json()["Items"]
    assert all(r["Name"] != "x" for r in mine)  # nothing was created


async def test_a_leaver_files_no_new_report(sandbox: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    http, auth = sandbox
    leaver = (await http.get("/api/v3.0/common/users", params={"isActive": "false", "limit": 1},
                             headers=auth)).json()["Items"][0]
    refused = await http.post(REPORTS, params={"user": leaver["LoginID"]}, json={"Name": "x"}, headers=auth)
    assert refused.status_code == 422
    assert "inactive" in refused.json()["Message"]
    assert (await http.post(REPORTS, params={"user": leaver["LoginID"]}, json={"Name": "x"})).status_code == 401


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"ReportID": "NOPE"}, 404, "report NOPE was not found"),
    ({"ExpenseTypeCode": "MILEG"}, 400, "ExpenseTypeCode: Invalid enum value 'MILEG'"),
    ({"PaymentTypeID": "CBCP"}, 400, "PaymentTypeID"),
    ({"TransactionCurrencyCode": "eur"}, 400, "TransactionCurrencyCode"),
    ({"TransactionCurrencyCode": "XAU"}, 400, "TransactionCurrencyCode"),
    ({"TransactionAmount": "42.50"}, 400, "TransactionAmount: Expected `float`, got `str`"),
    ({"TransactionAmount": 0}, 400, "TransactionAmount"),
    ({"TransactionAmount": -5}, 400, "TransactionAmount"),
    ({"TransactionAmount": 1e10}, 400, "TransactionAmount"),
    ({"TransactionAmount": 12.345}, 422, "TransactionAmount: EUR amounts have 2 decimals at most"),
    ({"TransactionAmount": 1200.5, "TransactionCurrencyCode": "JPY"}, 422, "JPY amounts have 0 decimals"),
    ({"ExchangeRate": 0}, 400, "ExchangeRate"),
    ({"ExchangeRate": "1.1"}, 400, "ExchangeRate"),
    ({"TransactionDate": "2025-06-02T10:00:00"}, 400, "TransactionDate"),  # no zone
    ({"TransactionDate": "02.06.2025"}, 400, "TransactionDate"),
    ({"IsPersonal": "false"}, 400, "IsPersonal: Expected `bool`, got `str`"),
    ({"Journey": {"BusinessDistance": 12, "UnitOfMeasure": "K"}}, 422, "Journey"),
    ({"Amount": 12}, 400, "unknown field `Amount`"),
])
async def test_entry_creates_are_checked(
    sandbox: tuple[httpx.AsyncClient, dict[str, str]], fields: dict[str, Any], status: int, message: str
) -> None:
    http, auth = sandbox
    owner = await active_user(http, auth)
    rid = await new_report(http, auth, owner["LoginID"])
    refused = await http.post(ENTRIES, json=entry(rid, **fields), headers=auth)
    assert refused.status_code == status, refused.text
    assert set(refused.json()) == {"Message", "Server-Time", "Id"}
    assert message in refused.json()["Message"]
    assert (await http.get(ENTRIES, params={"reportID": rid}, headers=auth)).json()["Items"] == []
    assert (await http.get(f"{REPORTS}/{rid}", headers=auth)).json()["Total"] == 0


async def test_entries_go_to_a_draft_or_sent_back_report_of_the_named_user(
    sandbox: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    http, auth = sandbox
    owner = await active_user(http, auth)
    rid = await new_report(http, auth, owner["LoginID"])
    other = await active_user(http, auth, "GB01")
    foreign = await http.post(ENTRIES, params={"user": other["LoginID"]}, json=entry(rid), headers=auth)
    assert foreign.status_code == 404
    assert "of user" in foreign.json()["Message"]
    await add_entry(http, auth, entry(rid), user="ALL")  # as the list routes read it: any owner
    pending = await first(http, auth, approvalStatusCode="A_PEND")
    submitted = await http.post(ENTRIES, json=entry(pending["ID"]), headers=auth)
    assert submitted.status_code == 409
    assert "A_PEND" in submitted.json()["Message"]
    sent_back = await first(http, auth, approvalStatusCode="A_RESU")
    await add_entry(http, auth, entry(sent_back["ID"], TransactionCurrencyCode=sent_back["CurrencyCode"],
                                      TransactionAmount=10))
    again = (await http.get(f"{REPORTS}/{sent_back['ID']}", headers=auth)).json()
    assert round(again["Total"] - sent_back["Total"], 2) == 10
    assert (await http.post(workflow(sent_back["ID"]), json={"Action": "Submit"}, headers=auth)).status_code == 200
    assert (await http.post(ENTRIES, json=entry(rid))).status_code == 401


async def test_created_reports_survive_a_restart_and_new_ids_do_not_repeat(tmp_path: Path) -> None:
    config = SandboxConfig(data_path=str(tmp_path / "expense.db"))
    ids: list[str] = []
    for _ in range(2):
        async for http, auth in client_for(create_app(config)):
            owner = await active_user(http, auth)
            rid = await new_report(http, auth, owner["LoginID"])
            ids += [rid, await add_entry(http, auth, entry(rid))]
            for known in ids:
                collection = REPORTS if known in ids[::2] else ENTRIES
                assert (await http.get(f"{collection}/{known}", headers=auth)).status_code == 200
    assert len(set(ids)) == 4


async def test_the_document_describes_the_creates(sandbox: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    http, _ = sandbox
    document = (await http.get("/schema/openapi.json")).json()
    schemas, paths = document["components"]["schemas"], document["paths"]
    create = paths[REPORTS]["post"]
    assert create["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("CreateResponse")
    assert {"400", "401", "404", "422"} <= set(create["responses"])
    assert next(p for p in create["parameters"] if p["name"] == "user")["required"] is True
    assert schemas["ReportPost"]["required"] == ["Name"]
    assert schemas["EntryPost"]["additionalProperties"] is False
    assert {"409", "422"} <= set(paths[ENTRIES]["post"]["responses"])
    amount = schemas["EntryPost"]["properties"]["TransactionAmount"]
    assert (amount["type"], amount["exclusiveMinimum"]) == ("number", 0)
    assert set(schemas["EntryPost"]["properties"]["ExpenseTypeCode"]["enum"]) >= {"AIRFR", "TAXIX"}


# --- a created report through the expense system API ---------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_system_api_reads_a_created_report(settings: Any) -> None:
    from gateway.app import create_app as create_gateway
    from gateway.catalog import ApiDescriptor, Catalog
    from gateway.registry import default_catalog
    from system_apis.connectors.expense import ExpenseConnector
    from system_apis.connectors.kit import ConnectionConfig
    from system_apis.expense import PREFIX, SCOPES, SUMMARY, routes
    from tests.support import register

    sandbox = create_app()
    async with lifespan(sandbox), httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox),
                                                    base_url=BASE) as concur:
        auth = await token(concur)
        owner = await active_user(concur, auth, "GB01")
        rid = await new_report(concur, auth, owner["LoginID"], Name="Leeds July 2025")
        await add_entry(concur, auth, entry(rid, TransactionCurrencyCode="GBP", TransactionAmount=18.4))
        await add_entry(concur, auth, entry(rid, ExpenseTypeCode="LODNG", PaymentTypeID="IBCP",
                                            TransactionAmount=230, TransactionCurrencyCode="EUR"))
        await add_entry(concur, auth, entry(rid, ExpenseTypeCode="PARKG", TransactionAmount=6,
                                            TransactionCurrencyCode="GBP", IsPersonal=True))
        for action in ("Submit", "Approve"):
            assert (await concur.post(workflow(rid), json={"Action": action}, headers=auth)).status_code == 200

        connector = ExpenseConnector(
            ConnectionConfig(base_url=BASE, client_id="finrail", client_secret="sandbox-secret", retries=0),
            transport=httpx.ASGITransport(app=sandbox),
        )
        core = tuple(a for a in default_catalog().apis if a.tier == "gateway")
        api = ApiDescriptor(name="expense", tier="system", major=1, owner="finance-integration", summary=SUMMARY,
                            prefixes=(PREFIX,), scopes=SCOPES, routes=lambda ctx: routes(connector))
        gateway = create_gateway(settings, catalog=Catalog(apis=(*core, api)))
        await gateway.startup()
        try:
            transport = httpx.ASGITransport(app=gateway, client=("203.0.113.7", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                operator = await register(gateway, http, sorted(gateway.catalog.scopes))
                answer = await http.get(f"{PREFIX}/reports/{rid}", headers=operator.headers)
                assert answer.status_code == 200, answer.text
                report = answer.json()
                approved = await http.get(f"{PREFIX}/reports", params={"status": "approved", "employee_id":
                                                                       owner["LoginID"]}, headers=operator.headers)
        finally:
            await gateway.shutdown()
            await connector.aclose()
    assert (report["id"], report["name"], report["status"]) == (rid, "Leeds July 2025", "approved")
    assert (report["employee_id"], report["company_code"]) == (owner["LoginID"], "GB01")
    assert report["cost_center"] == owner["CostCenter"]
    assert report["total"] == {"amount": "213.99", "currency": "GBP"}  # 18.40 + 195.59; the personal 6.00 left out
    assert len(report["entries"]) == 2
    assert sum(float(e["posted_amount"]["amount"]) for e in report["entries"]) == pytest.approx(213.99)
    assert report["submitted_at"]
    assert report["approved_at"]
    assert approved.status_code == 200, approved.text
    assert rid in {r["id"] for r in approved.json()["items"]}
