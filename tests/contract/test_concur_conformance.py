"""The expense sandbox answers the overlapping Concur v3.0 operations as SAP Concur's swagger says.

Each answer is validated (Draft 4, which Swagger 2.0 schemas are) against the definitions of
``../shared/contracts/sap-concur/ExpenseReports_v3.0.swagger2.json`` and
``ExpenseEntries_v3.0.swagger2.json``, resolving their ``#/definitions/...`` references. The
swagger leaves ``additionalProperties`` open, so the test also checks that the sandbox sends
no field the definition does not name. One known defect of the published swagger is not
copied: ``ReportCollection.Items``/``EntryCollection.Items`` are declared as one object, while
Concur (and its documentation) answer an array of them; the envelope is validated with
``Items`` as an array of the declared item schema.
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
