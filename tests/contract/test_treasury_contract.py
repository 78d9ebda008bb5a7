"""Contract tests of the treasury system API and of the treasury sandbox: schemathesis, zero failures.

The system API is served by a real ``finrail serve`` (SQLite) with its embedded sandbox; the
sandbox also runs alone (``python -m platforms.treasury``) and is checked against its own
Litestar document, with a bearer token from its OAuth2 token endpoint, so every handler, not
only the guard, is exercised. Every check (``--checks all``) in every phase; exit code 0 is
the bar.
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


def schemathesis(url: str, authorization: str) -> subprocess.CompletedProcess[str]:
    """The schemathesis CLI as the contract README runs it (cwd = repository, for schemathesis.toml)."""
    return subprocess.run(
        [
            BIN / "schemathesis", "run", url,
            "--checks", "all",
            "--header", f"Authorization: {authorization}",
            "--max-examples", "25",
            "--seed", "20261121",
            "--suppress-health-check", "all",
            "--no-color",
        ],
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.hooks"},
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A running gateway on a fresh SQLite database, and a token holding every scope."""
    env = server_env(
        f"sqlite+aiosqlite:///{tmp_path / 'finrail.db'}", tmp_path / "data",
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
def sandbox(tmp_path: Path) -> Iterator[str]:
    """``python -m platforms.treasury`` on a free port until the test ends; yields its base URL."""
    port = free_port()
    log = tmp_path / "sandbox.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "platforms.treasury", "--port", str(port), "--data", str(tmp_path / "sandbox.db")],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
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


def test_system_api_honours_its_contract(gateway: tuple[str, str]) -> None:
    base, token = gateway
    result = schemathesis(f"{base}{default_catalog().get('treasury').document_path}", f"Bearer {token}")
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]


def test_sandbox_honours_its_contract(sandbox: str) -> None:
    token = httpx.post(f"{sandbox}/gateway/oauth/token", data={"grant_type": "client_credentials"},
                       auth=("finrail", "sandbox-secret"))
    token.raise_for_status()
    result = schemathesis(f"{sandbox}/schema/openapi.json", f"Bearer {token.json()['access_token']}")
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
