"""The treasury sandbox speaks the Kyriba dialect: auth, RSQL, pages, errors, run lifecycle, webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from gateway.lifespan import lifespan
from platforms.kit.config import SandboxConfig
from platforms.treasury.app import create_app

API = "/gateway/api/v1"


async def token(http: httpx.AsyncClient) -> dict[str, str]:
    answer = await http.post("/gateway/oauth/token", data={"grant_type": "client_credentials"},
                             auth=("finrail", "sandbox-secret"))
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(SandboxConfig())
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                base_url="http://sandbox.treasury") as client:
        client.headers.update(await token(client))
        yield client


async def results(http: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    answer = await http.get(f"{API}/{path}", params=params)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["results"]
    return found


def assert_kyriba_error(answer: httpx.Response, status: int, code: str, target: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"code", "message", "target", "details"}
    assert error["code"] == code
    assert error["message"]
    if target is not None:
        assert error["target"] == target or any(d.get("target") == target for d in error["details"])
    return error


async def test_oauth2_client_credentials_guard_every_route() -> None:
    app = create_app()
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        anonymous = await http.get(f"{API}/bank-accounts")
        assert_kyriba_error(anonymous, 401, "UNAUTHORIZED")
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        wrong = await http.post("/gateway/oauth/token", data={"grant_type": "client_credentials"},
                                auth=("finrail", "guess"))
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_client"
        grant = await http.post("/gateway/oauth/token", data={"grant_type": "password"}, auth=("finrail", "x"))
        assert grant.json()["error"] == "unsupported_grant_type"
        headers = await token(http)
        assert (await http.get(f"{API}/bank-accounts", headers=headers)).status_code == 200
        forged = {"Authorization": headers["Authorization"][:-2] + "00"}
        assert_kyriba_error(await http.get(f"{API}/bank-accounts", headers=forged), 401, "UNAUTHORIZED")


async def test_rsql_filters_and_sort(http: httpx.AsyncClient) -> None:
    de = await results(http, "bank-accounts", filter="company.code==DE01")
    assert {a["company"]["code"] for a in de} == {"DE01"}
    assert len(de) == 3
    opened = await results(http, "bank-accounts", filter="company.code=in=(US01,GB01);status==OPENED")
    assert sorted(a["code"] for a in opened) == ["GB01-OPS-GBP", "GB01-PAY-GBP", "US01-OPS-USD", "US01-PAY-USD"]

    everything = await results(http, "payment-obligations")
    big = await results(http, "payment-obligations", filter="amount=gt=10000;currency.code==EUR")
    assert big == [o for o in everything if Decimal(str(o["amount"])) > 10000 and o["currency"]["code"] == "EUR"]
    early = await results(http, "payment-obligations", filter="valueDate=lt=2026-01-09")
    assert sorted(o["valueDate"] for o in early) == ["2026-01-06", "2026-01-07", "2026-01-08"]
    either = await results(http, "payment-obligations", filter="reference==SEED-0001,reference==SEED-0002")
    assert sorted(o["reference"] for o in either) == ["SEED-0001", "SEED-0002"]
    wildcard = await results(http, "payment-obligations", filter="reference==SEED-001*")
    assert len(wildcard) == 3  # SEED-0010 .. SEED-0012

    by_amount = await results(http, "payment-obligations", sort="-amount")
    amounts = [Decimal(str(o["amount"])) for o in by_amount]
    assert amounts == sorted(amounts, reverse=True)
    assert isinstance(by_amount[0]["amount"], (int, float))  # a JSON number, as Kyriba sends it

    unknown = await http.get(f"{API}/payment-obligations", params={"filter": "secret==1"})
    assert_kyriba_error(unknown, 422, "INVALID_FILTER", "filter")
    broken = await http.get(f"{API}/payment-obligations", params={"filter": "status=in=(PENDING"})
    assert_kyriba_error(broken, 422, "INVALID_FILTER", "filter")
    assert_kyriba_error(await http.get(f"{API}/bank-accounts", params={"sort": "iban2"}), 422, "INVALID_SORT")


async def test_pages_carry_kyriba_metadata(http: httpx.AsyncClient) -> None:
    first = (await http.get(f"{API}/payment-obligations")).json()["metadata"]
    assert (first["numberOfTotalResults"], first["pageLimit"], first["pageOffset"]) == (12, 100, 0)
    answer = (await http.get(f"{API}/payment-obligations", params={"page.limit": 5, "page.offset": 5})).json()
    meta = answer["metadata"]
    assert (meta["numberOfTotalResults"], meta["pageLimit"], meta["pageOffset"]) == (12, 5, 5)
    assert len(answer["results"]) == 5
    assert "page.offset=10" in meta["links"]["next"]
    assert "page.offset=0" in meta["links"]["previous"]
    last = (await http.get(meta["links"]["next"])).json()
    assert len(last["results"]) == 2
    assert "next" not in last["metadata"]["links"]
    assert_kyriba_error(await http.get(f"{API}/payment-obligations", params={"page.limit": 0}), 400,
                        "INVALID_REQUEST")
    assert_kyriba_error(await http.get(f"{API}/payment-obligations/unknown"), 404, "NOT_FOUND")
    assert_kyriba_error(await http.get(f"{API}/nowhere"), 404, "NOT_FOUND")


def obligation(reference: str, **changes: Any) -> dict[str, Any]:
    return {"reference": reference, "company": {"code": "GB01"}, "bankAccount": {"code": "GB01-OPS-GBP"},
            "beneficiary": {"name": "Atlas Hardware Ltd", "iban": "GB33BUKB20201555555555"},
            "amount": 1500.25, "currency": {"code": "GBP"}, "valueDate": "2026-02-01", **changes}


async def test_obligation_validation_names_the_fields(http: httpx.AsyncClient) -> None:
    bad = obligation("R-BAD", amount=10.001, currency={"code": "EUR"},
                     beneficiary={"name": "X", "iban": "GB00BUKB20201555555555"})
    error = assert_kyriba_error(await http.post(f"{API}/payment-obligations", json=bad), 422, "INVALID_REQUEST")
    assert {d["target"] for d in error["details"]} == {"amount", "currency.code", "beneficiary.iban"}
    decimals = obligation("R-DEC", amount=10.001)
    assert_kyriba_error(await http.post(f"{API}/payment-obligations", json=decimals), 422, "INVALID_REQUEST", "amount")
    unknown = {**obligation("R-UNK"), "colour": "red"}  # unknown fields are ignored, as the document allows
    assert (await http.post(f"{API}/payment-obligations", json=unknown)).json()["reference"] == "R-UNK"
    no_amount = {k: v for k, v in obligation("R-NOA").items() if k != "amount"}
    assert_kyriba_error(await http.post(f"{API}/payment-obligations", json=no_amount), 400, "INVALID_REQUEST")


async def test_run_lifecycle_and_confirmation_webhook(http: httpx.AsyncClient) -> None:
    created = await http.post(f"{API}/payment-obligations", json=obligation("R-1"))
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "PENDING"
    assert created.json()["amount"] == 1500.25
    assert_kyriba_error(await http.post(f"{API}/payment-obligations", json=obligation("R-1")), 409,
                        "DUPLICATE_REFERENCE", "reference")
    gb = [o["uuid"] for o in await results(http, "payment-obligations", filter="company.code==GB01")]
    us = (await results(http, "payment-obligations", filter="company.code==US01"))[0]["uuid"]
    mixed = await http.post(f"{API}/payment-runs", json={"obligations": [gb[0], us]})
    assert_kyriba_error(mixed, 422, "MIXED_COMPANIES")

    run = (await http.post(f"{API}/payment-runs", json={"obligations": gb, "reference": "RUN-1"})).json()
    assert run["status"] == "CREATED"
    assert run["company"]["code"] == "GB01"
    assert len(await results(http, "payment-obligations", filter=f"paymentRun.uuid=={run['uuid']};status==IN_RUN")) \
        == len(gb)
    again = await http.post(f"{API}/payment-runs", json={"obligations": gb[:1]})
    assert_kyriba_error(again, 409, "INVALID_OBLIGATIONS", "obligations[0]")
    early = await http.post(f"{API}/bank-confirmations", json={"paymentRun": run["uuid"]})
    assert_kyriba_error(early, 409, "INVALID_STATUS")

    released = await http.post(f"{API}/payment-runs/{run['uuid']}/release")
    assert released.json()["status"] == "RELEASED"
    assert_kyriba_error(await http.post(f"{API}/payment-runs/{run['uuid']}/release"), 409, "INVALID_STATUS")

    confirmed = await http.post(f"{API}/bank-confirmations", json={"paymentRun": run["uuid"],
                                                                   "bankReference": "BANK-42"})
    assert confirmed.status_code == 201
    assert (await http.get(f"{API}/payment-runs/{run['uuid']}")).json()["status"] == "CONFIRMED"
    paid = await results(http, "payment-obligations", filter=f"paymentRun.uuid=={run['uuid']}")
    assert {(o["status"], o["bankReference"]) for o in paid} == {("PAID", "BANK-42")}

    log = (await http.get("/_sandbox/webhooks")).json()
    events = [d for d in log if d["type"] == "payment.confirmed"]
    assert len(events) == len(gb)
    assert len({d["id"] for d in events}) == len(gb)


async def test_rejected_run_returns_obligations_to_the_pool(http: httpx.AsyncClient) -> None:
    pending = [o["uuid"] for o in await results(http, "payment-obligations", filter="company.code==JP01")]
    run = (await http.post(f"{API}/payment-runs", json={"obligations": pending})).json()
    await http.post(f"{API}/payment-runs/{run['uuid']}/release")
    rejected = await http.post(f"{API}/bank-confirmations", json={"paymentRun": run["uuid"], "result": "REJECTED"})
    assert rejected.status_code == 201
    assert (await http.get(f"{API}/payment-runs/{run['uuid']}")).json()["status"] == "REJECTED"
    back = await results(http, "payment-obligations", filter="company.code==JP01")
    assert {o["status"] for o in back} == {"PENDING"}
    assert all(o["lastRejection"]["paymentRun"]["uuid"] == run["uuid"] and o["paymentRun"] is None for o in back)
    assert [d["type"] for d in (await http.get("/_sandbox/webhooks")).json()] == ["payment.rejected"] * len(pending)


async def test_seed_is_deterministic_and_state_survives_a_restart(tmp_path: Path) -> None:
    async def session(app: Litestar, create: bool) -> list[dict[str, Any]]:
        async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                    base_url="http://t") as http:
            http.headers.update(await token(http))
            if create:
                assert (await http.post(f"{API}/payment-obligations", json=obligation("KEEP-1"))).status_code == 201
            return await results(http, "payment-obligations", sort="reference")

    data = str(tmp_path / "treasury.db")
    first = await session(create_app(SandboxConfig(data_path=data)), create=True)
    second = await session(create_app(SandboxConfig(data_path=data)), create=False)
    assert second == first
    assert len(second) == 13
    fresh = await session(create_app(SandboxConfig()), create=False)
    assert [o for o in first if o["reference"] != "KEEP-1"] == fresh


async def test_faults_answer_in_the_kyriba_error_shape(http: httpx.AsyncClient) -> None:
    assert (await http.put("/_sandbox/faults", json={"maintenance": True, "retry_after_seconds": 7})).status_code == 200
    down = await http.get(f"{API}/bank-accounts")
    assert_kyriba_error(down, 503, "SERVICE_UNAVAILABLE")
    assert down.headers["retry-after"] == "7"


@pytest.mark.parametrize(("path", "body", "target", "problem"), [
    ("payment-obligations", obligation("R-S1", amount=True), "amount", "Expected `decimal`, got `bool`"),
    ("payment-obligations", {**obligation("R-S2"), "reference": 7}, "reference", "Expected `str`, got `int`"),
    ("payment-obligations", obligation("R-S3", beneficiary={"name": False}), "beneficiary.name",
     "Expected `str`, got `bool`"),
    ("payment-obligations", obligation("R-S4", valueDate=20260201), "valueDate", "Expected `date`, got `int`"),
    ("payment-runs", {"obligations": "R-1"}, "obligations", "Expected `array`, got `str`"),
    ("bank-confirmations", {"paymentRun": "x", "result": True}, "result", "Expected `str`, got `bool`"),
    ("payment-runs", b'{"obligations": [', None, "not valid JSON: Input data was truncated"),
    ("payment-runs", b"[" * 5000 + b"]" * 5000, None, "nested too deeply"),
])
async def test_bodies_are_decoded_strictly_and_refused_in_kyribas_shape(
    http: httpx.AsyncClient, path: str, body: dict[str, Any] | bytes, target: str | None, problem: str
) -> None:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    refused = await http.post(f"{API}/{path}", content=content, headers={"Content-Type": "application/json"})
    error = assert_kyriba_error(refused, 400, "INVALID_REQUEST")
    assert error["details"] == [{"code": "INVALID_VALUE", "message": problem, **({"target": target} if target else {})}]
    assert await results(http, "payment-obligations", filter="reference=in=(R-S1,R-S2,R-S3,R-S4)") == []
