"""Helpers the tests share (fixtures live in conftest.py)."""

from dataclasses import dataclass

import httpx

from gateway.app import Gateway

__all__ = ["Operator", "finrail", "free_port", "register", "running_server", "server_env"]


@dataclass
class Operator:
    """A registered client holding every scope, with a fresh token."""

    client_id: str
    client_secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(gateway: Gateway, client: httpx.AsyncClient, scopes: list[str], tier: str = "gold") -> Operator:
    """Register a client directly in the registry and get a token over HTTP, as a user would."""
    record, secret = await gateway.services.clients.create("test operator", tuple(scopes), tier)
    answer = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(record.client_id, secret)
    )
    assert answer.status_code == 200, answer.text
    return Operator(record.client_id, secret, answer.json()["access_token"])


# --- real server processes -------------------------------------------------------------------

import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Mapping  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """Environment for a ``finrail`` process on ``database_url`` (extra ``FINRAIL_*`` settings as keywords)."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("FINRAIL_TEST_")}
    return {
        **inherited,
        "FINRAIL_DATA_DIR": str(data_dir),
        "FINRAIL_STORAGE__URL": database_url,
        "FINRAIL_LOGGING__LEVEL": "WARNING",
        **{f"FINRAIL_{key.upper()}": value for key, value in settings.items()},
    }


def finrail(env: Mapping[str, str], *args: str) -> str:
    """Run a ``finrail`` command to completion and return its standard output."""
    done = subprocess.run([BIN / "finrail", *args], env=dict(env), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def running_server(env: Mapping[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``finrail serve`` on a free port until the block ends; yields its base URL and process.

    The server is stopped with SIGTERM (a clean shutdown), and its log must hold no traceback.
    """
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [BIN / "finrail", "serve", "--port", str(port)], env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "server did not start: " + log.read_text()
                time.sleep(0.1)
            yield base, process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
    assert "Traceback" not in log.read_text(), log.read_text()[-5000:]
