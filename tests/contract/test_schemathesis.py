"""Contract tests: schemathesis against the published documents, over real HTTP, zero failures.

Each run uses every check schemathesis has (``--checks all``) through all its phases
(examples, coverage, fuzzing, stateful); ``schemathesis.toml`` at the root holds the one
deliberate expectation (see the comment there). Three kinds of target:

* the gateway tier (identity, admin, ops) in a real ``finrail serve``, on SQLite and PostgreSQL;
* every system API and every process API in a real ``finrail serve`` on SQLite, the embedded
  sandboxes behind them (the storage paths are the gateway tier's, already run on both backends);
* each sandbox alone (``python -m platforms.<name>``), as a tester of the vendor dialect would.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gateway.registry import default_catalog
from tests.support import BIN, finrail, free_port, running_server, server_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

GATEWAY_APIS = [api.name for api in default_catalog() if api.tier == "gateway"]
SYSTEM_APIS = [api.name for api in default_catalog() if api.tier == "system"]
PROCESS_APIS = [api.name for api in default_catalog() if api.tier == "process"]


def _oauth(token_path: str) -> Callable[[str], list[str]]:
    def credentials(base: str) -> list[str]:
        answer = httpx.post(
            f"{base}{token_path}", data={"grant_type": "client_credentials"}, auth=("finrail", "sandbox-secret")
        )
        answer.raise_for_status()
        return ["--header", f"Authorization: Bearer {answer.json()['access_token']}"]

    return credentials


# How a tester authenticates to each sandbox (the embedded defaults).
SANDBOXES: dict[str, Callable[[str], list[str]]] = {
    "erp": lambda base: ["--auth", "finrail:sandbox"],
    "planning": lambda base: ["--auth", "finrail:sandbox"],
    "procurement": _oauth("/oauth2/access_tokens"),
    "expense": _oauth("/oauth2/v0/token"),
    "treasury": _oauth("/gateway/oauth/token"),
}


def schemathesis(url: str, *options: str) -> subprocess.CompletedProcess[str]:
    """The schemathesis CLI against ``url`` with every check; returns the finished process."""
    return subprocess.run(
        [
            BIN / "schemathesis", "run", url,
            "--checks", "all",
            "--max-examples", "25",
            "--seed", "20261121",
            "--suppress-health-check", "all",
            "--no-color",
            *options,
        ],
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.hooks"},
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )


@contextmanager
def governed_server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
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


@contextmanager
def sandbox_alone(platform: str, tmp_path: Path) -> Iterator[str]:
    """``python -m platforms.<platform>`` on a free port; yields its base URL; no traceback allowed."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "sandbox.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", f"platforms.{platform}", "--port", str(port), "--data", str(tmp_path / "sb.db")],
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


def _passed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]


@pytest.mark.parametrize("api", GATEWAY_APIS)
def test_gateway_api_honours_its_contract(database_url: str, tmp_path: Path, api: str) -> None:
    with governed_server(database_url, tmp_path) as (base, token):
        document = default_catalog().get(api).document_path
        _passed(schemathesis(f"{base}{document}", "--header", f"Authorization: Bearer {token}"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("api", SYSTEM_APIS)
def test_system_api_honours_its_contract(database_url: str, tmp_path: Path, api: str) -> None:
    with governed_server(database_url, tmp_path) as (base, token):
        document = default_catalog().get(api).document_path
        _passed(schemathesis(f"{base}{document}", "--header", f"Authorization: Bearer {token}"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("api", PROCESS_APIS)
def test_process_api_honours_its_contract(database_url: str, tmp_path: Path, api: str) -> None:
    with governed_server(database_url, tmp_path) as (base, token):
        document = default_catalog().get(api).document_path
        _passed(schemathesis(f"{base}{document}", "--header", f"Authorization: Bearer {token}"))


@pytest.mark.parametrize("platform", sorted(SANDBOXES))
def test_sandbox_honours_its_contract(tmp_path: Path, platform: str) -> None:
    with sandbox_alone(platform, tmp_path) as base:
        _passed(schemathesis(f"{base}/schema/openapi.json", *SANDBOXES[platform](base)))
