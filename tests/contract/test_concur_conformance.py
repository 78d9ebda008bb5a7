"""The expense sandbox answers the overlapping Concur v3.0 operations as SAP Concur's swagger says.

Each answer is validated (Draft 4, which Swagger 2.0 schemas are) against the definitions of
``../shared/contracts/sap-concur/ExpenseReports_v3.0.swagger2.json`` and
``ExpenseEntries_v3.0.swagger2.json``, resolving their ``#/definitions/...`` references. The
swagger leaves ``additionalProperties`` open, so the test also checks that the sandbox sends
no field the definition does not name. One known defect of the published swagger is not
copied: ``ReportCollection.Items``/``EntryCollection.Items`` are declared as one object, while
Concur (and its documentation) answer an array of them; the envelope is validated with
``Items`` as an array of the declared item schema.

Creates go the other way too: the bodies sent are validated against ``ReportPost``/``EntryPost``,
a body naming every field of those definitions is taken, the sandbox's document names no body
field the swagger does not, and the answers validate against ``CreateResponse``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from gateway.lifespan import lifespan
from platforms.expense import create_app

CONTRACTS = Path(__file__).resolve().parents[3] / "shared" / "contracts" / "sap-concur"
REPORTS = json.loads((CONTRACTS / "ExpenseReports_v3.0.swagger2.json").read_text())
ENTRIES = json.loads((CONTRACTS / "ExpenseEntries_v3.0.swagger2.json").read_text())


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft4Validator({**schema, "definitions": document["definitions"]}, validate_formats=True)


def collection_schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    envelope = json.loads(json.dumps(document["definitions"][name]))
    declared = envelope["properties"]["Items"]
    assert "$ref" in declared, "the swagger changed: revisit the Items work-around"
    envelope["properties"]["Items"] = {"type": "array", "items": declared}
    return envelope


def assert_conforms(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    errors = [f"{e.instance_path}: {e.message}" for e in validator(document, schema).iter_errors(instance)]
    assert not errors, errors


def assert_only_declared_fields(document: dict[str, Any], definition: str, item: dict[str, Any]) -> None:
    declared = set(document["definitions"][definition]["properties"])
    assert set(item) <= declared, sorted(set(item) - declared)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app()
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                base_url="http://sandbox.expense") as client:
        answer = await client.post("/oauth2/v0/token", data={"grant_type": "client_credentials"},
                                   auth=("finrail", "sandbox-secret"))
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield client


async def test_the_swagger_files_are_there() -> None:
    assert REPORTS["swagger"] == "2.0"
    assert REPORTS["basePath"] == ENTRIES["basePath"] == "/api/v3.0"
    assert "/expense/reports/{id}" in REPORTS["paths"]
    assert "/expense/entries/{id}" in ENTRIES["paths"]


@pytest.mark.parametrize(
    "query",
    [{}, {"limit": 100, "offset": "100"}, {"approvalStatusCode": "A_APPR", "paymentStatusCode": "P_PAID"},
     {"approvalStatusCode": "A_RESU"}, {"approvalStatusCode": "A_NOTF"}, {"paymentStatusCode": "P_PROC"}],
)
async def test_report_pages_and_reports_conform(http: httpx.AsyncClient, query: dict[str, Any]) -> None:
    answer = await http.get("/api/v3.0/expense/reports", params=query)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    page = answer.json()
    assert page["Items"]
    assert_conforms(REPORTS, collection_schema(REPORTS, "ReportCollection"), page)
    for item in page["Items"]:
        assert_only_declared_fields(REPORTS, "ReportGet", item)
    one = await http.get(f"/api/v3.0/expense/reports/{page['Items'][0]['ID']}")
    assert one.status_code == 200
    assert_conforms(REPORTS, {"$ref": "#/definitions/ReportGet"}, one.json())
    assert_only_declared_fields(REPORTS, "ReportGet", one.json())
    assert one.json()["URI"].endswith(f"/api/v3.0/expense/reports/{page['Items'][0]['ID']}")


async def test_entry_pages_and_entries_conform(http: httpx.AsyncClient) -> None:
    url: str | None = "/api/v3.0/expense/entries?limit=100"
    pages = 0
    while url and pages < 4:
        page = (await http.get(url)).json()
        assert_conforms(ENTRIES, collection_schema(ENTRIES, "EntryCollection"), page)
        for item in page["Items"]:
            assert_only_declared_fields(ENTRIES, "EntryGet", item)
        url, pages = page.get("NextPage"), pages + 1
    report_id = page["Items"][0]["ReportID"]
    of_report = (await http.get("/api/v3.0/expense/entries", params={"reportID": report_id})).json()
    assert of_report["Items"]
    assert {e["ReportID"] for e in of_report["Items"]} == {report_id}
    one = await http.get(f"/api/v3.0/expense/entries/{of_report['Items'][0]['ID']}")
    assert_conforms(ENTRIES, {"$ref": "#/definitions/EntryGet"}, one.json())


async def test_a_report_changed_by_the_workflow_still_conforms(http: httpx.AsyncClient) -> None:
    pending = (await http.get("/api/v3.0/expense/reports", params={"approvalStatusCode": "A_PEND"})).json()["Items"][0]
    action = f"/api/expense/expensereport/v1.1/report/{pending['ID']}/WorkFlowAction"
    assert (await http.post(action, json={"Action": "Approve", "Comment": "ok"})).status_code == 200
    patched = await http.patch(f"/expensereports/v4/reports/{pending['ID']}",
                               json={"paymentStatus": "P_PROC", "externalDocumentId": "5100000777"})
    assert patched.status_code == 204
    report = (await http.get(f"/api/v3.0/expense/reports/{pending['ID']}")).json()
    assert_conforms(REPORTS, {"$ref": "#/definitions/ReportGet"}, report)
    assert report["LastComment"] == "ok"


async def test_the_validator_does_catch_a_wrong_answer() -> None:
    wrong = {"ID": "X", "Total": "12.50", "PaidDate": "yesterday"}
    errors = list(validator(REPORTS, {"$ref": "#/definitions/ReportGet"}).iter_errors(wrong))
    assert len(errors) == 2


# --- creates --------------------------------------------------------------------------------------


def full_body(document: dict[str, Any], definition: str, values: dict[str, Any]) -> dict[str, Any]:
    """A body naming every field of ``definition``: ``values`` where given, else a plain value of its type."""
    plain = {"string": "x", "boolean": True, "number": 1.5, "integer": 3}
    body = {}
    for name, schema in document["definitions"][definition]["properties"].items():
        if name in values:
            body[name] = values[name]
        elif "$ref" in schema:
            body[name] = full_body(document, schema["$ref"].rsplit("/", 1)[1], {})
        else:
            body[name] = plain[schema["type"]]
    return body


async def owner(http: httpx.AsyncClient) -> dict[str, Any]:
    users = (await http.get("/api/v3.0/common/users", params={"ledgerCode": "US01", "isActive": "true",
                                                              "limit": 100})).json()["Items"]
    user: dict[str, Any] = next(u for u in users if u.get("ApproverLoginID"))
    return user


async def create(http: httpx.AsyncClient, document: dict[str, Any], path: str, body: dict[str, Any],
                 definition: str, **params: str) -> str:
    """POST ``body`` (valid for ``definition``) and check the answer is a ``CreateResponse``."""
    assert_conforms(document, {"$ref": f"#/definitions/{definition}"}, body)
    answer = await http.post(f"/api/v3.0{path}", params=params, json=body)
    assert answer.status_code == 200, answer.text  # the swagger's one success answer
    assert answer.headers["content-type"].startswith("application/json")
    assert_conforms(document, {"$ref": "#/definitions/CreateResponse"}, answer.json())
    assert set(answer.json()) == set(document["definitions"]["CreateResponse"]["properties"])
    created_id: str = answer.json()["ID"]
    assert answer.json()["URI"].endswith(f"/api/v3.0{path}/{created_id}")
    return created_id


async def test_created_reports_and_entries_conform(http: httpx.AsyncClient) -> None:
    user = await owner(http)
    report_id = await create(http, REPORTS, "/expense/reports",
                             {"Name": "Boston trip", "Purpose": "Customer visit", "Comment": "3 days",
                              "UserDefinedDate": "2025-07-01T00:00:00Z"},
                             "ReportPost", user=user["LoginID"])
    entry_ids = [
        await create(http, ENTRIES, "/expense/entries",
                     {"ReportID": report_id, "ExpenseTypeCode": "LODNG", "PaymentTypeID": "IBCP",
                      "TransactionDate": "2025-06-30T00:00:00Z", "TransactionAmount": 389.0,
                      "TransactionCurrencyCode": "USD", "VendorDescription": "Marriott", "IsBillable": True},
                     "EntryPost"),
        await create(http, ENTRIES, "/expense/entries",
                     {"ReportID": report_id, "ExpenseTypeCode": "TRAIN", "PaymentTypeID": "CASHX",
                      "TransactionDate": "2025-07-01T09:00:00+01:00", "TransactionAmount": 42.8,
                      "TransactionCurrencyCode": "GBP", "ExchangeRate": 1.27, "Description": "Heathrow Express"},
                     "EntryPost", user=user["LoginID"]),
    ]
    report = (await http.get(f"/api/v3.0/expense/reports/{report_id}")).json()
    assert_conforms(REPORTS, {"$ref": "#/definitions/ReportGet"}, report)
    assert_only_declared_fields(REPORTS, "ReportGet", report)
    assert (report["ApprovalStatusCode"], report["PaymentStatusCode"], report["Total"]) == ("A_NOTF", "P_NOTP",
                                                                                            443.36)
    page = (await http.get("/api/v3.0/expense/entries", params={"reportID": report_id})).json()
    assert_conforms(ENTRIES, collection_schema(ENTRIES, "EntryCollection"), page)
    assert {e["ID"] for e in page["Items"]} == set(entry_ids)
    for item in page["Items"]:
        assert_only_declared_fields(ENTRIES, "EntryGet", item)
    action = f"/api/expense/expensereport/v1.1/report/{report_id}/WorkFlowAction"
    for step in ("Submit", "Approve"):
        assert (await http.post(action, json={"Action": step})).status_code == 200
    approved = (await http.get(f"/api/v3.0/expense/reports/{report_id}")).json()
    assert_conforms(REPORTS, {"$ref": "#/definitions/ReportGet"}, approved)
    assert approved["ApprovalStatusCode"] == "A_APPR"


async def test_a_body_naming_every_field_of_the_swagger_is_taken(http: httpx.AsyncClient) -> None:
    user = await owner(http)
    report_body = full_body(REPORTS, "ReportPost", {
        "Name": "All fields", "PolicyID": "POL-US01", "OrgUnit1": "US01", "OrgUnit2": "US3000",
        "UserDefinedDate": "2025-07-01T00:00:00Z"})
    refused = await http.post("/api/v3.0/expense/reports", params={"user": user["LoginID"]}, json=report_body)
    assert refused.status_code == 422  # Custom20 is the ERP document number, set when posted
    assert refused.json()["Message"].startswith("Custom20")
    del report_body["Custom20"]
    report_id = await create(http, REPORTS, "/expense/reports", report_body, "ReportPost", user=user["LoginID"])
    assert (await http.get(f"/api/v3.0/expense/reports/{report_id}")).json()["OrgUnit2"]["Code"] == "US3000"
    entry_body = full_body(ENTRIES, "EntryPost", {
        "ReportID": report_id, "ExpenseTypeCode": "BUSML", "PaymentTypeID": "CASHX", "TaxReceiptType": "R",
        "TransactionDate": "2025-06-30T00:00:00Z", "TransactionAmount": 88.5, "TransactionCurrencyCode": "USD",
        "IsPersonal": False})
    assert set(entry_body["Journey"]) == set(ENTRIES["definitions"]["Journey"]["properties"])
    entry_body["Journey"]["UnitOfMeasure"] = "M"
    refused = await http.post("/api/v3.0/expense/entries", json=entry_body)
    assert refused.status_code == 422  # named by the swagger, so not "unknown": the site has no mileage
    assert refused.json()["Message"].startswith("Journey")
    del entry_body["Journey"]
    await create(http, ENTRIES, "/expense/entries", entry_body, "EntryPost")
    assert (await http.get(f"/api/v3.0/expense/reports/{report_id}")).json()["Total"] == 88.5


async def test_the_sandbox_takes_no_body_field_the_swagger_does_not_name(http: httpx.AsyncClient) -> None:
    schemas = (await http.get("/schema/openapi.json")).json()["components"]["schemas"]
    for document, definition in ((REPORTS, "ReportPost"), (ENTRIES, "EntryPost"), (ENTRIES, "Journey"),
                                 (REPORTS, "CreateResponse")):
        ours = set(schemas[definition]["properties"])
        assert ours == set(document["definitions"][definition]["properties"]), definition
        if definition != "CreateResponse":
            assert schemas[definition]["additionalProperties"] is False
