"""Contract tests: schemathesis against every API's published document, over real HTTP.

A real ``finrail serve`` process runs on a free port, on SQLite and on PostgreSQL; the
schemathesis CLI runs every check it has (``--checks all``) through all phases: examples,
coverage, fuzzing and stateful. Zero failures is the bar.
"""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.registry import default_catalog

HOOKS = Path(__file__).with_name("hooks.py")
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A running gateway and a token holding every scope."""
    port = _free_port()
    env = {
        **os.environ,
        "FINRAIL_DATA_DIR": str(tmp_path / "data"),
        "FINRAIL_STORAGE__URL": database_url,
        "FINRAIL_SERVER__PORT": str(port),
        "FINRAIL_THROTTLING__SPIKE": "100000/second",
        "FINRAIL_THROTTLING__TIERS__GOLD": "1000000/minute",
        "FINRAIL_AUTH__TOKEN_ENDPOINT_RATE": "100000/minute",
        "FINRAIL_LOGGING__LEVEL": "WARNING",
    }
    scopes = [arg for scope in sorted(default_catalog().scopes) for arg in ("--scope", scope)]
    created = subprocess.run(
        [BIN / "finrail", "clients", "create", "contract tester", *scopes, "--tier", "gold", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )
    credentials = json.loads(created.stdout)
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([BIN / "finrail", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        answer = httpx.post(
            f"{base}/oauth/token", data={"grant_type": "client_credentials"},
            auth=(credentials["client_id"], credentials["client_secret"]),
        )
        answer.raise_for_status()
        yield base, answer.json()["access_token"]
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        server_log = (tmp_path / "server.log").read_text()
        assert "Traceback" not in server_log or "unhandled error" not in server_log, server_log[-5000:]


@pytest.mark.parametrize("api", [api.name for api in default_catalog()])
def test_api_honours_its_contract(server: tuple[str, str], api: str, tmp_path: Path) -> None:
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
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
