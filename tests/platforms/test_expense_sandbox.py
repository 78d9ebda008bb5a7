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
