"""Contract tests of the ERP system API and its sandbox: schemathesis, every check, zero failures."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.registry import default_catalog
from tests.support import BIN, finrail, free_port, running_server, server_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _schemathesis(url: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN / "schemathesis", "run", url, "--checks", "all", "--max-examples", "25", "--seed", "20261121",
         "--suppress-health-check", "all", "--no-color", *options],
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.hooks"},
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )


def test_erp_system_api_honours_its_contract(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'finrail.db'}"
    env = server_env(
        database_url, tmp_path / "data",
        throttling__spike="100000/second", throttling__tiers__gold="1000000/minute",
        auth__token_endpoint_rate="100000/minute",
    )
    scopes = [arg for scope in sorted(default_catalog().scopes) for arg in ("--scope", scope)]
    credentials = json.loads(finrail(env, "clients", "create", "erp contract", *scopes, "--tier", "gold", "--json"))
    with running_server(env, tmp_path / "server.log") as (base, _):
        token = httpx.post(
            f"{base}/oauth/token", data={"grant_type": "client_credentials"},
            auth=(credentials["client_id"], credentials["client_secret"]),
        ).json()["access_token"]
        result = _schemathesis(f"{base}/system/erp/v1/openapi.json", "--header", f"Authorization: Bearer {token}")
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]


@pytest.fixture
def sandbox() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "platforms.erp", "--port", str(port)], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/schema/openapi.json", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def test_erp_sandbox_honours_its_contract(sandbox: str) -> None:
    result = _schemathesis(f"{sandbox}/schema/openapi.json", "--auth", "finrail:sandbox")
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
