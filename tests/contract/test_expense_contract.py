"""Contract tests of the expense platform: schemathesis against its system API and its sandbox.

Both run over real HTTP with every check (``--checks all``) through all phases, and must end
with zero failures: the system API behind a ``finrail serve`` process (SQLite; the chain's
storage is not what is under test here, tests/contract/test_schemathesis.py covers both
databases), the Concur sandbox alone (``python -m platforms.expense``), holding a bearer token
from its own OAuth2 endpoint.
"""

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


def schemathesis(document_url: str, token: str) -> subprocess.CompletedProcess[str]:
    """Run the schemathesis CLI the way tests/contract/test_schemathesis.py does."""
    return subprocess.run(
        [
            BIN / "schemathesis", "run", document_url,
            "--checks", "all",
            "--header", f"Authorization: Bearer {token}",
            "--max-examples", "25",
            "--seed", "20261121",
            "--suppress-health-check", "all",
            "--no-color",
        ],
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.hooks"},
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )


@pytest.fixture
def gateway_server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A running gateway and a token holding every scope (limits high enough not to interfere)."""
    env = server_env(
        database_url, tmp_path / "data",
        throttling__spike="100000/second", throttling__tiers__gold="1000000/minute",
        auth__token_endpoint_rate="100000/minute",
    )
    scopes = [arg for scope in sorted(default_catalog().scopes) for arg in ("--scope", scope)]
    credentials = json.loads(finrail(env, "clients", "create", "contract tester", *scopes, "--tier", "gold", "--json"))
    with running_server(env, tmp_path / "server.log") as (base, _):
        answer = httpx.post(
            f"{base}/oauth/token", data={"grant_type": "client_credentials"},
            auth=(credentials["client_id"], credentials["client_secret"]),
        )
        answer.raise_for_status()
        yield base, answer.json()["access_token"]


@pytest.fixture
def sandbox_server(tmp_path: Path) -> Iterator[str]:
    """The expense sandbox alone on a free port; its log must hold no traceback."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "sandbox.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "platforms.expense", "--port", str(port), "--data", str(tmp_path / "concur.db")],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/schema/openapi.json", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "sandbox did not start: " + log.read_text()
                time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()[-5000:]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_expense_system_api_honours_its_contract(gateway_server: tuple[str, str]) -> None:
    base, token = gateway_server
    result = schemathesis(f"{base}{default_catalog().get('expense').document_path}", token)
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
    assert "6 selected / 6 total" in result.stdout  # every operation of the API was exercised


def test_expense_sandbox_honours_its_contract(sandbox_server: str) -> None:
    answer = httpx.post(
        f"{sandbox_server}/oauth2/v0/token", data={"grant_type": "client_credentials"},
        auth=("finrail", "sandbox-secret"),
    )
    answer.raise_for_status()
    result = schemathesis(f"{sandbox_server}/schema/openapi.json", answer.json()["access_token"])
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
    assert "9 selected / 9 total" in result.stdout
