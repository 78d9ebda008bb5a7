"""Contract tests: schemathesis against every API's published document, over real HTTP.

A real ``finrail serve`` process runs on a free port, on SQLite and on PostgreSQL; the
schemathesis CLI runs every check it has (``--checks all``) through all phases: examples,
coverage, fuzzing and stateful. Zero failures is the bar. ``schemathesis.toml`` at the root
holds the one deliberate expectation (see the comment there).
"""

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.registry import default_catalog
from tests.support import BIN, finrail, running_server, server_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# The gateway tier here; each system API (and sandbox) has its own contract test beside this
# file (tests/contract/test_<platform>_contract.py), run against one real server each.
CONTRACT_APIS = [api.name for api in default_catalog() if api.tier == "gateway"]


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
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


@pytest.mark.parametrize("api", CONTRACT_APIS)
def test_api_honours_its_contract(server: tuple[str, str], api: str) -> None:
    base, token = server
    document = default_catalog().get(api).document_path
    result = subprocess.run(
        [
            BIN / "schemathesis", "run", f"{base}{document}",
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
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
