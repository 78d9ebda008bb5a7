"""Contract test of the procurement system API: schemathesis, every check, zero failures.

The system API runs in a real ``finrail serve`` process on SQLite (its embedded sandbox
behind it). The sandbox's own document is not held to this bar yet: Litestar converts request
bodies leniently (``"true"`` for a boolean, a number for a decimal string), which the sandbox's
schema does not admit. Until that is closed, issue 3 stays open.
"""

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.registry import default_catalog
from system_apis.procurement.api import PREFIX
from tests.support import BIN, finrail, running_server, server_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _schemathesis(document: str, token: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            BIN / "schemathesis", "run", document,
            "--checks", "all",
            "--header", f"Authorization: Bearer {token}",
            "--max-examples", "25",
            "--seed", "20261121",
            "--suppress-health-check", "all",
            "--no-color",
        ],
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.hooks"},
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )


@pytest.fixture
def gateway_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A gateway on SQLite and a token holding every scope (limits high enough not to interfere)."""
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


def test_system_api_honours_its_contract(gateway_server: tuple[str, str]) -> None:
    base, token = gateway_server
    result = _schemathesis(f"{base}{PREFIX}/openapi.json", token)
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]

