"""The chaos harness: sandboxes, a gateway and flow workers as separate processes, and their faults.

Everything runs as it would in a deployment: the ERP, expense and treasury sandboxes each in
its own process (``python -m platforms.<name>`` with its own SQLite file), one ``finrail serve``
(system and process APIs, event intake, no embedded worker) pointed at them, and
``finrail worker`` processes sharing the gateway's database and calling its system APIs over
HTTP. The test kills and restarts workers, switches faults at run time, and reads the end state
from the sandboxes' own APIs and the flow tables.

Start order: :meth:`Topology.start_sandboxes` (the expense sandbox without a webhook URL, so
reports can be prepared quickly), :meth:`Topology.send_expense_webhooks` (restart it, same port
and data, webhooks to the gateway's ``/events/expense``), :meth:`Topology.start_gateway`.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from platforms.kit.config import DEFAULT_WEBHOOK_SECRET
from tests.support import BIN, free_port, server_env

__all__ = [
    "ENTITIES",
    "Process",
    "Topology",
    "approve_reports",
    "expense_token",
    "journal_entries",
    "set_faults",
    "submit_reports",
]

ROOT = Path(__file__).resolve().parents[2]

ENTITIES = ("US01", "DE01", "GB01")
"""Entities the posting flow's mapping sets code (reports of other entities are business exceptions)."""

SANDBOXES = ("erp", "expense", "treasury")
"""Platforms run as their own processes (the others stay embedded in the gateway)."""

_OAUTH = {"client_id": "finrail", "client_secret": "sandbox-secret"}
_BASIC = {"username": "finrail", "password": "sandbox"}
CREDENTIALS: dict[str, dict[str, str]] = {"erp": _BASIC, "expense": _OAUTH, "treasury": _OAUTH}
"""The sandboxes' default credentials, as the connectors present them."""

WORKFLOW = "/api/expense/expensereport/v1.1/report/{}/WorkFlowAction"
ODATA_JOURNAL = "/sap/opu/odata/sap/API_JOURNALENTRY_POST_SRV/A_JournalEntry"


@dataclass
class Process:
    """One child process and its log file."""

    name: str
    """What it is (``erp``, ``serve``, ``worker-1``...)."""
    popen: subprocess.Popen[bytes]
    """The process."""
    log: Path
    """Its standard output and error."""
    base_url: str | None = None
    """Where it listens, for servers."""

    def tail(self, chars: int = 3000) -> str:
        """The end of its log."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (exit {self.popen.poll()}) {self.log} ---\n{text[-chars:]}"


@dataclass
class Topology:
    """The processes of one chaos run; :meth:`close` stops whatever still runs.

    Args:
        root: Directory for data files and logs.
        database_url: The gateway's and workers' database.
        settings: Extra ``FINRAIL_*`` settings for the gateway and the workers (``server_env`` keywords).
    """

    root: Path
    database_url: str
    settings: Mapping[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    sandboxes: dict[str, str] = field(default_factory=dict)
    server: Process | None = None
    workers: list[Process] = field(default_factory=list)
    cpu_at_kill: dict[str, float] = field(default_factory=dict)
    server_port: int = 0
    _worker_count: int = 0

    # --- starting --------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Process:
        log = self.root / f"{name}.log"
        with log.open("w") as out:
            popen = subprocess.Popen(argv, cwd=ROOT, env=dict(env or os.environ), stdout=out,
                                     stderr=subprocess.STDOUT)
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def _wait_http(self, process: Process, url: str, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert process.popen.poll() is None, process.tail()
            assert time.monotonic() < deadline, f"{process.name} did not start:\n{process.tail()}"
            time.sleep(0.1)

    def start_sandboxes(self) -> None:
        """Start the three sandboxes (seeded at startup); the expense sandbox sends no webhooks yet."""
        self.server_port = free_port()
        started = []
        for platform in SANDBOXES:
            port = free_port()
            self.sandboxes[platform] = f"http://127.0.0.1:{port}"
            started.append(self._start_sandbox(platform))
        for process in started:
            # Seeding happens at startup; the answer comes once the sandbox is ready.
            self._wait_http(process, f"{process.base_url}/_sandbox/faults", within=120)

    def _start_sandbox(self, platform: str, webhook_url: str | None = None) -> Process:
        base = self.sandboxes[platform]
        argv = [sys.executable, "-m", f"platforms.{platform}", "--port", base.rsplit(":", 1)[1],
                "--data", str(self.root / f"sandbox-{platform}.db")]
        if webhook_url:
            argv += ["--webhook-url", webhook_url]
        process = self._spawn(platform, argv)
        process.base_url = base
        return process

    def send_expense_webhooks(self) -> None:
        """Restart the expense sandbox (same port, same data file) sending its webhooks to the gateway.

        Reports are created and submitted before the gateway runs, so the only events it receives
        are the approvals that start postings (and the status changes the postings cause).
        """
        old = next(p for p in self.processes if p.name == "expense" and p.popen.poll() is None)
        old.popen.send_signal(signal.SIGTERM)
        old.popen.wait(timeout=60)
        old.name = "expense-before-restart"
        process = self._start_sandbox("expense", f"http://127.0.0.1:{self.server_port}/events/expense")
        self._wait_http(process, f"{process.base_url}/_sandbox/faults", within=120)

    def start_gateway(self, workers: int) -> None:
        """Start ``finrail serve`` pointed at the sandboxes, then ``workers`` workers."""
        env = self.env(server__embedded_worker="false")  # the flows run in the worker processes only
        server_base = f"http://127.0.0.1:{self.server_port}"
        self.server = self._spawn("serve", [str(BIN / "finrail"), "serve", "--port", str(self.server_port)], env)
        self.server.base_url = server_base
        self._wait_http(self.server, f"{server_base}/health/live")
        for process in [self._spawn_worker() for _ in range(workers)]:
            self._wait_worker(process)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a ``finrail`` process of this topology."""
        platforms: dict[str, str] = {}
        for platform, base in self.sandboxes.items():
            prefix = f"platforms__{platform}__"
            platforms[prefix + "base_url"] = base
            for key, value in CREDENTIALS[platform].items():
                platforms[f"{prefix}connection__{key}"] = value
        platforms["platforms__expense__webhook_secret"] = DEFAULT_WEBHOOK_SECRET
        return server_env(self.database_url, self.root / "data", **platforms, **self.settings, **extra)

    def start_worker(self) -> Process:
        """A new ``finrail worker`` calling the gateway's system APIs; returns once it runs."""
        process = self._spawn_worker()
        self._wait_worker(process)
        return process

    def _spawn_worker(self) -> Process:
        assert self.server is not None
        assert self.server.base_url is not None
        self._worker_count += 1
        name = f"worker-{self._worker_count}"
        data = self.root / name
        data.mkdir()
        env = self.env(flows__system_url=self.server.base_url)
        env["FINRAIL_DATA_DIR"] = str(data)  # its own (unused) embedded sandboxes' files
        process = self._spawn(name, [str(BIN / "finrail"), "worker", "--name", name], env)
        self.workers.append(process)
        return process

    def _wait_worker(self, process: Process, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while "flows, calling" not in process.log.read_text(errors="replace"):
            assert process.popen.poll() is None, process.tail()
            assert time.monotonic() < deadline, f"{process.name} did not start:\n{process.tail()}"
            time.sleep(0.1)

    # --- chaos -----------------------------------------------------------------------------

    def kill_worker(self) -> Process:
        """SIGKILL the oldest running worker (no shutdown of any kind); returns it."""
        victim = next(w for w in self.workers if w.popen.poll() is None)
        self.cpu_at_kill.update({k: v for k, v in self.cpu_seconds().items() if k == victim.name})
        victim.popen.send_signal(signal.SIGKILL)
        victim.popen.wait(timeout=30)
        return victim

    # --- stopping --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every process still running: workers, then the gateway, then the sandboxes (SIGTERM)."""
        order = [*self.workers, *([self.server] if self.server else []),
                 *(p for p in self.processes if p.name in SANDBOXES)]
        order += [p for p in self.processes if p not in order]
        for process in order:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        for process in order:
            try:
                process.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=10)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each running process has used so far (Linux ``/proc``; else empty)."""
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        used: dict[str, float] = {}
        for process in self.processes:
            try:
                fields = Path(f"/proc/{process.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used[process.name] = (int(fields[11]) + int(fields[12])) / tick
        return used

    def tails(self, chars: int = 3000) -> str:
        """The end of every process's log."""
        return "\n".join(process.tail(chars) for process in self.processes)

    def tracebacks(self) -> list[str]:
        """Processes whose log holds a traceback, with the first one of each."""
        found = []
        for process in self.processes:
            text = process.log.read_text(errors="replace")
            at = text.find("Traceback")
            if at >= 0:
                found.append(f"--- {process.name} ---\n{text[max(0, at - 500):at + 4000]}")
        return found


# --- talking to the sandboxes ------------------------------------------------------------------


async def set_faults(http: httpx.AsyncClient, base: str, **faults: Any) -> None:
    """Replace a sandbox's faults (fields left out are off)."""
    answer = await http.put(f"{base}/_sandbox/faults", json=faults)
    assert answer.status_code == 200, answer.text


async def expense_token(http: httpx.AsyncClient, base: str) -> dict[str, str]:
    """Authorization header for the expense sandbox (client credentials)."""
    answer = await http.post(f"{base}/oauth2/v0/token", data={"grant_type": "client_credentials"},
                             auth=(_OAUTH["client_id"], _OAUTH["client_secret"]))
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _employees(http: httpx.AsyncClient, base: str, headers: Mapping[str, str]) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    offset = 0
    while True:
        answer = await http.get(f"{base}/api/v3.0/common/users", params={"limit": 100, "offset": offset},
                                headers=headers)
        assert answer.status_code == 200, answer.text
        items = answer.json()["Items"]
        users.extend(items)
        if not answer.json().get("NextPage") or not items:
            return users
        offset += len(items)


_EXPENSE_TYPES = ("AIRFR", "LODNG", "BUSML", "TAXIX", "CARRT", "TRAIN", "PARKG", "OFCSP")


async def _call(http: httpx.AsyncClient, base: str, headers: Mapping[str, str], method: str, path: str,
                **kwargs: Any) -> httpx.Response:
    for _ in range(5):
        try:
            answer = await http.request(method, f"{base}{path}", headers=headers, timeout=60, **kwargs)
        except httpx.TransportError:
            await asyncio.sleep(0.5)
            continue
        assert answer.status_code == 200, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer
    raise AssertionError(f"{method} {path}: the expense sandbox did not answer")


async def submit_reports(http: httpx.AsyncClient, base: str, count: int, *, seed: int = 20261122,
                         concurrency: int = 16) -> list[str]:
    """Create ``count`` reports with one or two entries each and submit them; returns their ids.

    Owners are active employees of the entities the posting flow codes; some of them charge
    cost centers the ERP blocks, whose postings stop in the exception queue.
    """
    headers = await expense_token(http, base)
    staff = [u for u in await _employees(http, base, headers) if u["Active"] and u["LedgerCode"] in ENTITIES]
    assert staff, "no employee of US01, DE01 or GB01 to own the reports"
    rng = random.Random(seed)
    plan = []
    for number in range(count):
        owner = rng.choice(staff)
        entries = [{"ExpenseTypeCode": rng.choice(_EXPENSE_TYPES), "PaymentTypeID": rng.choice(("CASHX", "IBCP")),
                    "TransactionAmount": round(rng.uniform(5, 900), 2)} for _ in range(rng.choice((1, 1, 2)))]
        plan.append((number, owner, entries))
    today = datetime.now(UTC).date().isoformat()
    gate = asyncio.Semaphore(concurrency)

    async def one(number: int, owner: dict[str, Any], entries: list[dict[str, Any]]) -> str:
        async with gate:
            report = await _call(http, base, headers, "POST", "/api/v3.0/expense/reports",
                                 params={"user": owner["LoginID"]}, json={"Name": f"Chaos {number:04d}"})
            report_id: str = report.json()["ID"]
            for entry in entries:
                await _call(http, base, headers, "POST", "/api/v3.0/expense/entries", json={
                    "ReportID": report_id, "TransactionDate": today,
                    "TransactionCurrencyCode": owner["ReimbursementCurrencyCode"], **entry})
            await _call(http, base, headers, "POST", WORKFLOW.format(report_id), json={"Action": "Submit"})
            return report_id

    return list(await asyncio.gather(*(one(*item) for item in plan)))


async def approve_reports(http: httpx.AsyncClient, base: str, report_ids: list[str], *,
                          concurrency: int = 16) -> None:
    """Approve submitted reports; each approval sends ``statusChanged`` (A_PEND -> A_APPR), which starts a posting."""
    headers = await expense_token(http, base)
    gate = asyncio.Semaphore(concurrency)

    async def one(report_id: str) -> None:
        async with gate:
            await _call(http, base, headers, "POST", WORKFLOW.format(report_id), json={"Action": "Approve"})

    await asyncio.gather(*(one(report_id) for report_id in report_ids))


async def journal_entries(http: httpx.AsyncClient, base: str, reference: str) -> list[dict[str, Any]]:
    """The ERP sandbox's journal entries whose original reference is ``reference``, with their items."""
    for _ in range(5):
        try:
            answer = await http.get(f"{base}{ODATA_JOURNAL}", auth=(_BASIC["username"], _BASIC["password"]),
                                    params={"$filter": f"OriginalReferenceDocument eq '{reference}'",
                                            "$expand": "to_JournalEntryItem", "$format": "json"}, timeout=30)
        except httpx.TransportError:
            await asyncio.sleep(0.5)
            continue
        assert answer.status_code == 200, answer.text
        results: list[dict[str, Any]] = answer.json()["d"]["results"]
        return results
    raise AssertionError(f"the ERP sandbox did not answer for {reference}")
