"""The process tier's benchmark (issue 4, section 8): what ``run.py --only flows`` measures.

Two things, each on real ``finrail serve`` / ``finrail worker`` processes started from a
settings file, exactly as an operator runs them:

* **Expense reports posted end to end per second.** The expense sandbox is seeded (its own
  seed, the report count raised, see :func:`seed_expense`) so that it holds enough approved,
  not yet posted reports; the benchmark starts a posting for each of them through
  ``POST /process/expense-posting/v1/postings`` and waits until none is active any more
  (``GET /process/flows/v1/instances?flow=expense-posting&status=active``). Every posting
  runs the whole flow: load the report and its employee, check the entity, the period, the
  coding, the ERP master data, post a journal entry in the ERP, a payment obligation in
  treasury and the ``posted`` status back in the expense platform, each step a governed
  system API call with its own ``Idempotency-Key``. Reports a second = postings started /
  (last timeline event - first start), read from the flow tables afterwards; the share that
  completed and the share that stopped in the finance exception queue (by reason code) come
  with it, and so does the time each step took (from the timeline) and, when ``py-spy`` is
  there, a sampled profile of the process doing the work.

  - *embedded*: one ``finrail serve`` (SQLite, its in-process worker), pinned to one core;
  - *postgres*: ``finrail serve`` with ``server.embedded_worker = false`` pinned to one core and
    two ``finrail worker`` processes (``flows.system_url`` = that server) pinned to the other,
    on a fresh PostgreSQL database created for the run and dropped after it.

* **Budget check latency at a steady request rate.** ``POST /process/budget/v1/checks``
  sent open loop (on a fixed schedule whatever the answers, timed from each request's due
  time, so queueing shows; :func:`latency.open_loop`) by a load generator process pinned to
  the other core, at 50 and at 200 requests a second, against the embedded server.

Both scenarios raise every connector's outbound rate limit (``[platforms.*.connection] rate``)
far above the run, as the system tier's benchmark does for the ERP: the shipped default,
``25/second`` per platform, is a courtesy to a real vendor system and would make the benchmark
measure the limiter's sleeps (a posting makes about ten ERP calls). Throttling limits are set
far above the run too. Everything else (worker batch, leases, retries, timeouts) is the default.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import sqlalchemy as sa
from latency import OpenLoop
from sqlalchemy.ext.asyncio import create_async_engine

from platforms.expense import seed as expense_seed
from platforms.kit.config import SandboxConfig
from platforms.kit.store import Store

__all__ = [
    "BudgetRun",
    "PostingRun",
    "run_flows_bench",
    "seed_expense",
]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FINRAIL = Path(sys.executable).with_name("finrail")

FLOW = "expense-posting"
POSTINGS = "/process/expense-posting/v1/postings"
INSTANCES = "/process/flows/v1/instances"
KPIS = "/process/flows/v1/kpis"
CHECKS = "/process/budget/v1/checks"
REPORTS = "/system/expense/v1/reports"
BUDGET_LINES = "/system/planning/v1/budget-lines"
BUDGET_LINE = {"company_code": "US01", "cost_center": "1000", "fiscal_year": 2026, "period": 2}
"""The planning seed's line the budget tests use (400.00 USD available): every check asks for 1.00 of it."""

TIER = "bench"
UNLIMITED = "100000000/minute"
PLATFORMS = ("erp", "expense", "planning", "procurement", "treasury")
CONNECTION = {"rate": "100000/second"}
"""Outbound rate of every connector in the run (the shipped default is 25/second)."""


# --- data ----------------------------------------------------------------------------------


def seed_expense(path: Path, reports: int, *, seed: int | None = None) -> int:
    """Write the expense data set with ``reports`` reports into a fresh SQLite file at ``path``.

    The sandbox's own seed (400 reports, about a fifth approved and not yet posted) with its
    report count raised for the duration of the call, as ``erpseed.py`` does for suppliers;
    a sandbox that finds its store non-empty serves the data as is.

    Returns:
        The number of approved, not yet posted reports the store holds.
    """
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(str(path))
    saved = expense_seed.REPORTS
    expense_seed.REPORTS = reports  # read by the seed's report loop at call time
    try:
        expense_seed.seed(store, random.Random(SandboxConfig().seed if seed is None else seed))
        return len(store.find("reports", ApprovalStatusCode="A_APPR", PaymentStatusCode="P_NOTP"))
    finally:
        expense_seed.REPORTS = saved
        store.close()


# --- settings and processes -------------------------------------------------------------------


def settings(
    data_dir: Path,
    port: int,
    *,
    database: str | None = None,
    embedded_worker: bool = True,
    system_url: str | None = None,
) -> dict[str, Any]:
    """The settings file of one benchmarked process, as a dict."""
    data: dict[str, Any] = {
        "data_dir": str(data_dir),
        "server": {"host": "127.0.0.1", "port": port, "embedded_worker": embedded_worker},
        "logging": {"level": "WARNING", "json": True, "access_log": False},
        "auth": {"token_ttl_seconds": 3600},
        "throttling": {
            "storage": "memory://",
            "tiers": {TIER: UNLIMITED, "gold": UNLIMITED},
            "default_tier": TIER,
            "spike": "100000000/second",
        },
        "platforms": {name: {"connection": dict(CONNECTION)} for name in PLATFORMS},
    }
    if database is not None:
        data["storage"] = {"url": database}
    if system_url is not None:
        data["flows"] = {"system_url": system_url}
    return data


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` (top-level scalars, then one table per top-level dict) as TOML."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in data.items() if not isinstance(value, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            lines += ["", f"[{key}]", *(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


async def prepare(config: Path) -> str:
    """Migrate the database of ``config``, register the bench client (every scope), issue its token."""
    from gateway.app import create_app
    from gateway.settings import load_settings

    loaded = load_settings(config, environ={}, server={"embedded_worker": False})
    app = create_app(loaded)
    await app.startup()
    try:
        record, _secret = await app.services.clients.create("bench-flows", sorted(app.catalog.scopes), TIER)
        token = await app.services.tokens.issue(record, None)
    finally:
        await app.shutdown()
    return token.access_token


@dataclass
class Proc:
    """One finrail process we started."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid


def launch(name: str, config: Path, command: str, cpu: int, logs: Path) -> Proc:
    """``finrail --config CONFIG COMMAND`` pinned to ``cpu``, its output in ``logs/<name>.log``."""
    log = logs / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINRAIL_")}
    with log.open("wb") as out:
        popen = subprocess.Popen(
            ["taskset", "-c", str(cpu), str(FINRAIL), "--config", str(config), command],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return Proc(name, popen, log)


def stop_all(procs: Sequence[Proc]) -> None:
    """SIGTERM every process we started (workers first), wait, kill what does not stop."""
    for proc in procs:
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print(f"{proc.name} did not stop; killing it", file=sys.stderr)
            proc.popen.kill()
            proc.popen.wait()


def check_alive(procs: Sequence[Proc]) -> None:
    for proc in procs:
        if proc.popen.poll() is not None:
            tail = proc.log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{proc.name} exited with {proc.popen.returncode}; its log ends:\n{tail}")


def wait_live(base: str, procs: Sequence[Proc], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive(procs)
        try:
            if httpx.get(base + "/health/live", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} did not answer /health/live within {timeout:.0f} s")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid``, all threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def settle(pids: Sequence[int], quiet: float = 0.5, limit: float = 120.0) -> float:
    """Wait until the processes have used (almost) no CPU for ``quiet`` seconds; returns the wait."""
    started = time.monotonic()
    before = sum(cpu_seconds(pid) for pid in pids)
    while time.monotonic() - started < limit:
        time.sleep(quiet)
        now = sum(cpu_seconds(pid) for pid in pids)
        if now - before <= 0.02:
            return time.monotonic() - started
        before = now
    return time.monotonic() - started


class Api:
    """The bench client: every call must answer 2xx, or the run stops."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = httpx.Client(base_url=base, headers=self.headers, timeout=30.0)

    def get(self, path: str, **params: Any) -> Any:
        answer = self.http.get(path, params=params)
        if not 200 <= answer.status_code < 300:
            raise SystemExit(f"GET {path} {params} answered {answer.status_code}: {answer.text[:500]}")
        return answer.json()

    def close(self) -> None:
        self.http.close()


# --- expense posting ---------------------------------------------------------------------------


def approved_reports(api: Api) -> list[str]:
    """Ids of every approved, not yet posted report, through the expense system API."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = api.get(REPORTS, status="approved", limit=200, **({"cursor": cursor} if cursor else {}))
        ids.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return ids


async def _start_postings(base: str, headers: dict[str, str], report_ids: Sequence[str], parallel: int) -> list[str]:
    """POST one posting per report, ``parallel`` at a time; every answer must be 202 (a new posting)."""
    queue = list(report_ids)
    started: list[str] = []
    problems: list[str] = []
    limits = httpx.Limits(max_connections=parallel, max_keepalive_connections=parallel)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30.0, limits=limits) as http:

        async def feeder() -> None:
            while queue and not problems:
                report_id = queue.pop(0)
                answer = await http.post(
                    POSTINGS, json={"report_id": report_id}, headers={"Idempotency-Key": f'"bench-{uuid.uuid4().hex}"'}
                )
                if answer.status_code != 202:
                    problems.append(
                        f"POST {POSTINGS} for {report_id} answered {answer.status_code}: {answer.text[:300]}"
                    )
                    return
                started.append(answer.json()["id"])

        await asyncio.gather(*(feeder() for _ in range(parallel)))
    if problems:
        raise SystemExit(problems[0])
    return started


@dataclass
class StepTime:
    step: str
    count: int
    median_ms: float
    p95_ms: float
    total_s: float


@dataclass
class PostingRun:
    """One end-to-end posting run and what the flow tables say about it."""

    label: str
    postings: int
    span_s: float
    """First start to the last timeline event of the run's instances (server clocks)."""
    client_s: float
    """First POST sent to the poll that found none active (client clock)."""
    start_s: float
    """Time the client took to start every posting."""
    statuses: dict[str, int]
    reasons: dict[str, int]
    retries: int
    lag_p50_s: float
    lag_p95_s: float
    steps: list[StepTime]
    cpu_s: dict[str, float]
    """CPU seconds each process used during the run."""
    postgres_cpu_s: float | None = None
    profile: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.postings / self.span_s if self.span_s else 0.0

    @property
    def completed_rate(self) -> float:
        return self.statuses.get("completed", 0) / self.span_s if self.span_s else 0.0


async def flow_stats(database_url: str, instance_ids: Sequence[str]) -> dict[str, Any]:
    """Statuses, reasons, retries, lags and per-step times of ``instance_ids``, from the flow tables."""
    from process_apis.flow.tables import flow_instances, flow_timeline

    engine = create_async_engine(database_url)
    wanted = set(instance_ids)
    try:
        async with engine.connect() as db:
            instances = [
                row
                for row in (
                    await db.execute(
                        sa.select(
                            flow_instances.c.id,
                            flow_instances.c.status,
                            flow_instances.c.reason,
                            flow_instances.c.created_at,
                            flow_instances.c.finished_at,
                        ).where(flow_instances.c.flow == FLOW)
                    )
                ).all()
                if row.id in wanted
            ]
            events = [
                row
                for row in (
                    await db.execute(
                        sa.select(
                            flow_timeline.c.instance_id, flow_timeline.c.at, flow_timeline.c.kind, flow_timeline.c.step
                        ).order_by(flow_timeline.c.id)
                    )
                ).all()
                if row.instance_id in wanted
            ]
    finally:
        await engine.dispose()
    if len(instances) != len(wanted):
        raise SystemExit(f"the flow tables hold {len(instances)} of the {len(wanted)} postings started")
    by_instance: dict[str, list[Any]] = defaultdict(list)
    for event in events:
        by_instance[event.instance_id].append(event)
    durations: dict[str, list[float]] = defaultdict(list)
    order: list[str] = []
    for timeline in by_instance.values():
        previous: datetime | None = None
        for event in timeline:
            if event.kind in ("step-completed", "exception") and previous is not None and event.step:
                name = event.step if event.kind == "step-completed" else f"{event.step} (stopped)"
                if name not in order:
                    order.append(name)
                durations[name].append((event.at - previous).total_seconds())
            if event.kind in ("started", "step-completed", "exception", "retry-scheduled"):
                previous = event.at
    steps = []
    for name in order:
        values = sorted(durations[name])
        steps.append(
            StepTime(
                name,
                len(values),
                statistics.median(values) * 1000,
                values[max(0, int(len(values) * 0.95) - 1)] * 1000,
                sum(values),
            )
        )
    lags = sorted(
        (row.finished_at - row.created_at).total_seconds()
        for row in instances
        if row.status == "completed" and row.finished_at is not None
    )
    first = min(row.created_at for row in instances)
    last = max(event.at for event in events)
    return {
        "span_s": (last - first).total_seconds(),
        "statuses": dict(Counter(row.status for row in instances).most_common()),
        "reasons": dict(Counter(row.reason for row in instances if row.reason).most_common()),
        "retries": sum(1 for event in events if event.kind == "retry-scheduled"),
        "lag_p50_s": statistics.median(lags) if lags else float("nan"),
        "lag_p95_s": lags[max(0, int(len(lags) * 0.95) - 1)] if lags else float("nan"),
        "steps": steps,
    }


def wait_done(api: Api, procs: Sequence[Proc], timeout: float) -> None:
    """Poll until no posting is active (each active one is either due or being worked on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive(procs)
        if not api.get(INSTANCES, flow=FLOW, status="active", limit=1)["items"]:
            return
        time.sleep(0.25)
    raise SystemExit(f"postings were still active after {timeout:.0f} s")


def postgres_cpu() -> float | None:
    """CPU seconds used so far by every ``postgres`` process we can see (the server is shared)."""
    total = 0.0
    found = False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            total += cpu_seconds(int(entry.name))
            found = True
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total if found else None


def run_postings(
    label: str,
    api: Api,
    database_url: str,
    procs: Sequence[Proc],
    report_ids: Sequence[str],
    *,
    parallel: int,
    timeout: float,
    profiler: Profiler | None = None,
) -> PostingRun:
    """Start a posting for each report, wait until none is active, read what happened."""
    cpu_before = {proc.name: cpu_seconds(proc.pid) for proc in procs}
    pg_before = postgres_cpu() if database_url.startswith("postgresql") else None
    if profiler is not None:
        profiler.start()
    clock = time.monotonic()
    instance_ids = asyncio.run(_start_postings(api.base, api.headers, report_ids, parallel))
    start_s = time.monotonic() - clock
    wait_done(api, procs, timeout)
    client_s = time.monotonic() - clock
    cpu = {proc.name: cpu_seconds(proc.pid) - cpu_before[proc.name] for proc in procs}
    pg_after = postgres_cpu() if pg_before is not None else None
    profile = profiler.stop() if profiler is not None else []
    stats = asyncio.run(flow_stats(database_url, instance_ids))
    return PostingRun(
        label=label,
        postings=len(instance_ids),
        span_s=stats["span_s"],
        client_s=client_s,
        start_s=start_s,
        statuses=stats["statuses"],
        reasons=stats["reasons"],
        retries=stats["retries"],
        lag_p50_s=stats["lag_p50_s"],
        lag_p95_s=stats["lag_p95_s"],
        steps=stats["steps"],
        cpu_s=cpu,
        postgres_cpu_s=(pg_after - pg_before) if pg_before is not None and pg_after is not None else None,
        profile=profile,
    )


# --- profiling ---------------------------------------------------------------------------------


AREAS = (
    ("SQLite (sqlite3 / aiosqlite)", ("sqlite3", "aiosqlite")),
    ("asyncpg", ("asyncpg",)),
    ("SQLAlchemy", ("sqlalchemy",)),
    ("httpx / httpcore (calls to the system APIs)", ("httpx", "httpcore")),
    ("Litestar routing, DI, serialization", ("litestar",)),
    ("policies/ (the policy chain)", ("policies/",)),
    ("system_apis/ (system APIs, connectors, mapping)", ("system_apis/",)),
    ("platforms/ (the embedded sandboxes)", ("platforms/",)),
    ("platforms/kit/store.py (the sandboxes' document store)", ("platforms/kit/store.py",)),
    ("process_apis/ (flows, engine, process APIs)", ("process_apis/",)),
    ("msgspec", ("msgspec",)),
    ("json (stdlib)", ("json/",)),
    ("logging", ("logging/",)),
    ("cryptography / jwt", ("cryptography", "jwt", "joserfc", "jose")),
)


class Profiler:
    """``py-spy record`` of one process during a run, summarised by area and by function."""

    def __init__(self, py_spy: str, pid: int, out: Path, cpu: int) -> None:
        self.py_spy, self.pid, self.out, self.cpu = py_spy, pid, out, cpu
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.popen = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(self.cpu),
                self.py_spy,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                "200",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def stop(self) -> list[str]:
        if self.popen is None:
            return []
        self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.popen = None
        return summarise_profile(self.out) if self.out.exists() else ["(py-spy wrote no profile)"]


def summarise_profile(path: Path, top: int = 15) -> list[str]:
    """Markdown lines: share of samples per area (inclusive) and the functions most on CPU (self)."""
    total = 0
    areas: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for area, needles in AREAS:
            if any(needle in frame for frame in frames for needle in needles):
                areas[area] += count
        leaf = frames[-1]
        leaves[_short(leaf)] += count
    if not total:
        return ["(no samples)"]
    lines = [
        f"{total:,} samples (200 Hz, threads on CPU only).",
        "",
        "| area (a sample counts for every area on its stack) | share of samples |",
        "|---|---:|",
    ]
    lines += [f"| {area} | {count / total:.0%} |" for area, count in areas.most_common()]
    lines += ["", "| function on CPU (self) | share |", "|---|---:|"]
    lines += [f"| `{name}` | {count / total:.1%} |" for name, count in leaves.most_common(top)]
    return lines


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where.rsplit(':', 1)[0]})"


# --- budget check ------------------------------------------------------------------------------


@dataclass
class BudgetRun:
    rate: float
    result: OpenLoop
    server_cpu_s: float


def budget_line(api: Api) -> str:
    (line,) = api.get(BUDGET_LINES, **BUDGET_LINE)["items"]
    return str(line["id"])


def run_budget(
    api: Api,
    token: str,
    proc: Proc,
    line_id: str,
    *,
    rate: float,
    seconds: float,
    warmup: float,
    cpu: int,
) -> BudgetRun:
    """One open-loop run of the load generator process, pinned to ``cpu``."""
    body = {"budget_line_id": line_id, "amount": {"amount": "1.00", "currency": "USD"}}
    command = [
        sys.executable,
        str(HERE / "latency.py"),
        "--url",
        api.base + CHECKS,
        "--token",
        token,
        "--body",
        json.dumps(body),
        "--rate",
        f"{rate:g}",
        "--seconds",
        f"{seconds:g}",
        "--warmup",
        f"{warmup:g}",
        "--cpu",
        str(cpu),
    ]
    before = cpu_seconds(proc.pid)
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO).stdout
    used = cpu_seconds(proc.pid) - before
    line = next((ln for ln in output.splitlines() if ln.startswith("LATENCY_JSON ")), None)
    if line is None:
        raise SystemExit(f"the load generator printed no result:\n{output}")
    result = msgspec.json.decode(line.removeprefix("LATENCY_JSON "), type=OpenLoop)
    print(
        f"budget checks at {rate:g}/s: p50 {result.latency.p50_ms:.2f} ms p99 {result.latency.p99_ms:.2f} ms "
        f"max {result.latency.max_ms:.1f} ms, statuses {result.statuses}, send lag p99 "
        f"{result.send_lag_p99_ms:.2f} ms",
        file=sys.stderr,
    )
    if result.non_2xx:
        raise SystemExit(f"budget checks at {rate:g}/s: non-2xx answers {result.statuses}")
    if result.errors:
        print(
            f"budget checks at {rate:g}/s: {result.errors} requests got no answer (overload): {result.statuses}",
            file=sys.stderr,
        )
    return BudgetRun(rate, result, used)


# --- the whole benchmark -----------------------------------------------------------------------


@dataclass
class FlowsResult:
    embedded: list[PostingRun]
    postgres: PostingRun | None
    budget: list[BudgetRun]
    budget_profile: list[str]
    expense_reports: int
    approved: int
    seed_s: float


async def _create_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _posting_line(run: PostingRun) -> str:
    return (
        f"{run.label}: {run.postings} postings in {run.span_s:.1f} s = {run.rate:.1f} reports/s "
        f"({run.statuses}, reasons {run.reasons}, retries {run.retries}); CPU "
        + ", ".join(f"{name} {value:.1f} s" for name, value in run.cpu_s.items())
    )


def _embedded_round(
    number: int,
    workdir: Path,
    seeded: Path,
    *,
    port: int,
    server_cpu: int,
    load_cpu: int,
    postings: int,
    parallel: int,
    timeout: float,
    py_spy: str | None,
) -> PostingRun:
    """One embedded round: a fresh data directory, one ``finrail serve`` with its worker."""
    data_dir = workdir / f"embedded-{number}"
    data_dir.mkdir()
    shutil.copy(seeded, data_dir / "sandbox-expense.db")
    config = write_toml(workdir / f"embedded-{number}.toml", settings(data_dir, port))
    token = asyncio.run(prepare(config))
    procs: list[Proc] = []
    try:
        serve = launch(f"embedded-{number}-serve", config, "serve", server_cpu, workdir)
        procs.append(serve)
        base = f"http://127.0.0.1:{port}"
        wait_live(base, procs)
        api = Api(base, token)
        reports = approved_reports(api)
        chosen = reports[:postings]
        waited = settle([serve.pid])
        _log(
            f"embedded round {number}: server idle {waited:.1f} s after start; posting {len(chosen)} of "
            f"{len(reports)} approved reports"
        )
        profiler = Profiler(py_spy, serve.pid, workdir / f"embedded-{number}-profile.txt", load_cpu) if py_spy else None
        run = run_postings(
            f"embedded, round {number}",
            api,
            f"sqlite+aiosqlite:///{data_dir / 'finrail.db'}",
            procs,
            chosen,
            parallel=parallel,
            timeout=timeout,
            profiler=profiler,
        )
        _log(_posting_line(run))
        api.close()
        return run
    finally:
        stop_all(procs)


def _budget_round(
    workdir: Path,
    *,
    port: int,
    server_cpu: int,
    load_cpu: int,
    rates: Sequence[float],
    seconds: float,
    warmup: float,
    py_spy: str | None,
) -> tuple[list[BudgetRun], list[str]]:
    """The budget checks at each rate, in order, against one fresh embedded ``finrail serve``."""
    data_dir = workdir / "budget"
    data_dir.mkdir()
    config = write_toml(workdir / "budget.toml", settings(data_dir, port))
    token = asyncio.run(prepare(config))
    procs: list[Proc] = []
    runs: list[BudgetRun] = []
    profile: list[str] = []
    try:
        serve = launch("budget-serve", config, "serve", server_cpu, workdir)
        procs.append(serve)
        base = f"http://127.0.0.1:{port}"
        wait_live(base, procs)
        api = Api(base, token)
        line_id = budget_line(api)
        waited = settle([serve.pid])
        _log(f"budget: server idle {waited:.1f} s after start")
        for index, rate in enumerate(rates):
            profiler = (
                Profiler(py_spy, serve.pid, workdir / f"budget-{rate:g}-profile.txt", load_cpu)
                if py_spy and index == 0
                else None
            )
            if profiler is not None:
                profiler.start()
            runs.append(run_budget(api, token, serve, line_id, rate=rate, seconds=seconds, warmup=warmup, cpu=load_cpu))
            if profiler is not None:
                profile = profiler.stop()
            if index < len(rates) - 1:
                settle([serve.pid], limit=30.0)
        api.close()
    finally:
        stop_all(procs)
    return runs, profile


def _postgres_round(
    workdir: Path,
    seeded: Path,
    admin_url: str,
    *,
    port: int,
    server_cpu: int,
    load_cpu: int,
    postings: int,
    parallel: int,
    timeout: float,
    py_spy: str | None,
    workers: int,
) -> PostingRun:
    """finrail serve (no worker) on one core and ``workers`` finrail workers on the other, on a fresh database."""
    name = f"finrail_bench_{uuid.uuid4().hex[:10]}"
    database = f"postgresql+asyncpg://{admin_url.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
    asyncio.run(_create_database(admin_url, name))
    procs: list[Proc] = []
    try:
        data_dir = workdir / "postgres"
        data_dir.mkdir()
        shutil.copy(seeded, data_dir / "sandbox-expense.db")
        config = write_toml(
            workdir / "pg-serve.toml", settings(data_dir, port, database=database, embedded_worker=False)
        )
        token = asyncio.run(prepare(config))
        serve = launch("pg-serve", config, "serve", server_cpu, workdir)
        procs.append(serve)
        base = f"http://127.0.0.1:{port}"
        wait_live(base, procs)
        for number in range(1, workers + 1):
            worker_dir = workdir / f"pg-worker-{number}"
            worker_dir.mkdir()
            worker_config = write_toml(
                workdir / f"pg-worker-{number}.toml", settings(worker_dir, port, database=database, system_url=base)
            )
            procs.append(launch(f"pg-worker-{number}", worker_config, "worker", load_cpu, workdir))
        api = Api(base, token)
        reports = approved_reports(api)
        chosen = reports[:postings]
        time.sleep(1.0)
        check_alive(procs)
        waited = settle([proc.pid for proc in procs])
        _log(f"postgres: serve and {workers} workers idle {waited:.1f} s after start; posting {len(chosen)} reports")
        profiler = Profiler(py_spy, serve.pid, workdir / "pg-serve-profile.txt", load_cpu) if py_spy else None
        run = run_postings(
            f"PostgreSQL, serve + {workers} workers",
            api,
            database,
            procs,
            chosen,
            parallel=parallel,
            timeout=timeout,
            profiler=profiler,
        )
        _log(_posting_line(run))
        api.close()
        return run
    finally:
        stop_all(procs)
        asyncio.run(_drop_database(admin_url, name))


def run_flows_bench(
    workdir: Path,
    *,
    port: int,
    server_cpu: int,
    load_cpu: int,
    expense_reports: int,
    postings: int,
    rounds: int,
    parallel: int,
    postgres_admin: str | None,
    workers: int,
    budget_seconds: float,
    budget_warmup: float,
    budget_rates: Sequence[float],
    py_spy: str | None,
    timeout: float,
) -> FlowsResult:
    """Seed, serve, post, check; every process we start and the PostgreSQL database are cleaned up."""
    clock = time.monotonic()
    seeded = workdir / "expense-seeded.db"
    _log(f"seeding an expense sandbox with {expense_reports:,} reports into {seeded}")
    approved = seed_expense(seeded, expense_reports)
    seed_s = time.monotonic() - clock
    _log(f"{approved:,} approved, not yet posted reports ({seed_s:.0f} s)")
    embedded = [
        _embedded_round(
            number,
            workdir,
            seeded,
            port=port,
            server_cpu=server_cpu,
            load_cpu=load_cpu,
            postings=postings,
            parallel=parallel,
            timeout=timeout,
            py_spy=py_spy if number == rounds else None,
        )
        for number in range(1, rounds + 1)
    ]
    postgres = None
    if postgres_admin:
        postgres = _postgres_round(
            workdir,
            seeded,
            postgres_admin,
            port=port + 1,
            server_cpu=server_cpu,
            load_cpu=load_cpu,
            postings=postings,
            parallel=parallel,
            timeout=timeout,
            py_spy=py_spy,
            workers=workers,
        )
    budget, budget_profile = _budget_round(
        workdir,
        port=port + 2,
        server_cpu=server_cpu,
        load_cpu=load_cpu,
        rates=budget_rates,
        seconds=budget_seconds,
        warmup=budget_warmup,
        py_spy=py_spy,
    )
    return FlowsResult(embedded, postgres, budget, budget_profile, expense_reports, approved, seed_s)


# --- report ------------------------------------------------------------------------------------

FLOWS_BEGIN = "<!-- process tier: written by bench/run.py (--only flows rewrites this part) -->"
FLOWS_END = "<!-- end of process tier -->"
TARGET_REPORTS_PER_S = 150.0
TARGET_CHECK_P99_MS = 20.0


def _met(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def _share(run: PostingRun, name: str) -> float:
    return run.cpu_s.get(name, 0.0) / run.span_s if run.span_s else 0.0


def _serve_name(run: PostingRun) -> str:
    return next(name for name in run.cpu_s if name.endswith("serve"))


def _posting_row(run: PostingRun) -> str:
    serve = _serve_name(run)
    others = {name: value for name, value in run.cpu_s.items() if name != serve}
    if run.postgres_cpu_s is not None:
        others["PostgreSQL (all its processes)"] = run.postgres_cpu_s
    stopped = run.statuses.get("exception", 0)
    reasons = ", ".join(f"{reason} {count}" for reason, count in run.reasons.items()) or "-"
    return (
        f"| {run.label} | {run.postings} | {run.span_s:.1f} | **{run.rate:.1f}** | {run.completed_rate:.1f} "
        f"| {run.statuses.get('completed', 0)} ({run.statuses.get('completed', 0) / run.postings:.0%}) "
        f"| {stopped} ({stopped / run.postings:.0%}): {reasons} | {run.statuses.get('dead', 0)} | {run.retries} "
        f"| {run.cpu_s[serve]:.1f} | {run.postings / run.cpu_s[serve]:.1f} | {_share(run, serve):.2f} "
        f"| {'; '.join(f'{k} {v:.1f}' for k, v in others.items()) or '-'} "
        f"| {run.lag_p50_s:.1f} / {run.lag_p95_s:.1f} | {run.start_s:.1f} |"
    )


def _steps_table(runs: Sequence[PostingRun]) -> list[str]:
    names: list[str] = []
    for run in runs:
        names += [step.step for step in run.steps if step.step not in names]
    header = "| step | " + " | ".join(f"{run.label}: n, median ms, p95 ms" for run in runs) + " |"
    lines = [header, "|---|" + "---:|" * len(runs)]
    for name in names:
        cells = []
        for run in runs:
            step = next((s for s in run.steps if s.step == name), None)
            cells.append(f"{step.count}, {step.median_ms:,.0f}, {step.p95_ms:,.0f}" if step else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _budget_row(run: BudgetRun) -> str:
    result = run.result
    lat, svc = result.latency, result.service
    ok = sum(count for status, count in result.statuses.items() if status.startswith("2"))
    duration = result.seconds
    return (
        f"| {run.rate:g} | {result.seconds:g} | {result.sent:,} | {ok:,} | {result.errors:,} "
        f"| {result.achieved_rate:.1f} | {lat.p50_ms:,.1f} | {lat.p95_ms:,.1f} | **{lat.p99_ms:,.1f}** "
        f"| {lat.max_ms:,.1f} | {svc.p50_ms:,.1f} / {svc.p99_ms:,.1f} | {result.send_lag_p99_ms:.1f} "
        f"| {run.server_cpu_s:.1f} | {ok / run.server_cpu_s if run.server_cpu_s else 0:.0f} "
        f"| {run.server_cpu_s / (duration + 2):.2f} |"
    )


def flows_report(
    result: FlowsResult,
    *,
    info: dict[str, str],
    command: str,
    started: datetime,
    minutes: float,
    load: str,
    server_cpu: int,
    load_cpu: int,
    parallel: int,
    workers: int,
    budget_seconds: float,
    budget_warmup: float,
    profiled: bool,
) -> str:
    """The process tier's section of ``bench/RESULTS.md``."""
    embedded = result.embedded
    rates = [run.rate for run in embedded]
    per_cpu = [run.postings / run.cpu_s[_serve_name(run)] for run in embedded]
    median_rate = statistics.median(rates)
    median_cpu = statistics.median(per_cpu)
    last = embedded[-1]
    runs_for_steps = [last] + ([result.postgres] if result.postgres else [])
    high = max(result.budget, key=lambda run: run.rate) if result.budget else None
    lines = [
        FLOWS_BEGIN,
        "# The process tier: expense reports posted end to end, and the budget check under a steady rate",
        "",
        f"Written by `bench/run.py` on {started:%Y-%m-%d %H:%M} UTC in {minutes:.1f} minutes. "
        f"Command: `{command}`. Load average {load}.",
        "",
        *(f"- {key}: {value}" for key, value in info.items()),
        "",
        "**The machine was shared with other engineers' test runs while this ran** (see the load average: "
        "about five runnable processes per core). Wall-clock figures (reports/s, latencies) are what the "
        "benchmark saw on that machine; *reports per serve CPU-s* divides by the CPU time the serving process "
        "actually got, which is what one core the server had to itself would do, and *core share* says how "
        "much of its core the server got (or used: below 1 with no neighbours means it waited).",
        "",
        "## Method",
        "",
        f"Every process is the real `finrail` command (`finrail --config FILE serve` / `worker`) pinned with "
        f"`taskset`: servers to CPU {server_cpu}, the load generator, the profiler and the PostgreSQL "
        f"scenario's workers to CPU {load_cpu}; PostgreSQL (shared, on 5432) is not pinned. The settings file "
        "raises every connector's outbound rate limit to `100000/second` (the shipped `25/second` per "
        "platform would cap a posting, which makes about ten ERP calls, at a few reports a second: the "
        "benchmark would measure the limiter's sleeps) and puts the bench client in a tier whose limits the "
        "run never reaches; the flow worker keeps its defaults (batch 16, leases 60 s, retries).",
        "",
        f"Expense postings: the expense sandbox is seeded with its own seed ({result.expense_reports:,} reports, "
        f"the sandbox's default count), which holds **{result.approved} approved, not yet posted reports**; each "
        "round starts a posting for every one of them through `POST /process/expense-posting/v1/postings` "
        f"({parallel} requests in flight, each with its own `Idempotency-Key`, every answer must be 202), then "
        "polls `GET /process/flows/v1/instances?flow=expense-posting&status=active&limit=1` every 0.25 s until "
        "none is active. Reports/s = postings / (first instance's `created_at` to the last timeline event of "
        "the run's instances), read from the flow tables afterwards; completed/s counts only those that "
        "completed. The seed's approved reports include some the flow must stop in the finance exception "
        "queue (DE01's closed June 2025, blocked or expired cost centers, a report with nothing to post): "
        "that share is shown. Each round gets a fresh data directory (fresh SQLite database and sandboxes, "
        "same seeded expense file), so every round posts the same reports. Only the seed's reports were "
        "used: the sandboxes' document store answers a lookup by reading its whole collection, so a sandbox "
        "grown to thousands of approved reports would slow every step with it and measure the sandbox.",
        "",
        f"- *embedded*: one `finrail serve` (SQLite in its data directory, the flow worker in the same process), "
        f"{len(embedded)} rounds; the last one ran under `py-spy record --nonblocking` (sampling from the other "
        "core) for the profile below."
        if profiled
        else f"- *embedded*: one `finrail serve` (SQLite, the flow worker in its process), {len(embedded)} rounds.",
        f"- *PostgreSQL*: a database created for the run and dropped after it; `finrail serve` with "
        f"`server.embedded_worker = false` on CPU {server_cpu} and {workers} `finrail worker` processes "
        f"(`flows.system_url` = that server, so their steps call its system APIs over HTTP, and its embedded "
        f"sandboxes) on CPU {load_cpu}; one round.",
        "",
        f"Budget checks: a fresh embedded `finrail serve`; a load generator process (`bench/latency.py`, "
        f"asyncio + httpx, pinned to CPU {load_cpu}) sends `POST /process/budget/v1/checks` (1.00 USD against "
        "the planning seed's US01 / 1000 / 2026-02 line) **open loop**: request *i* is sent at "
        "*start + i / rate* whatever the earlier answers, each on a connection of its own when the earlier ones "
        "are busy, and its latency runs from that due time, so a server that falls behind shows its queue "
        f"(no coordinated omission). {budget_warmup:g} s of warm-up at the same rate are not counted, then "
        f"{budget_seconds:g} s are. A request unanswered 15 s after it was due counts as *no answer*. *send "
        "lag* is how late the generator itself sent (it must stay small for the latencies to be the "
        "server's). Any non-2xx answer stops the run.",
        "",
        "## 1. Expense reports posted end to end",
        "",
        "| run | postings | span s | reports/s | completed/s | completed | stopped in the exception queue "
        "| dead | retries | serve CPU s | reports per serve CPU-s | serve core share | other processes' CPU s "
        "| lag p50 / p95 s (start to completed) | client start time s |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|",
        *(_posting_row(run) for run in embedded),
        *([_posting_row(result.postgres)] if result.postgres else []),
        "",
        "| measure | value | target | |",
        "|---|---:|---:|---|",
        f"| embedded, reports/s (median of {len(embedded)} rounds) | {median_rate:.1f} | ≥ {TARGET_REPORTS_PER_S:g} "
        f"| {_met(median_rate >= TARGET_REPORTS_PER_S)} |",
        f"| embedded, reports per serve CPU-s (a core of its own) | {median_cpu:.1f} | ≥ {TARGET_REPORTS_PER_S:g} "
        f"| {_met(median_cpu >= TARGET_REPORTS_PER_S)} |",
        f"| embedded, serve CPU per posting | {1000 / median_cpu:.0f} ms | ≤ {1000 / TARGET_REPORTS_PER_S:.1f} ms "
        f"| {_met(median_cpu >= TARGET_REPORTS_PER_S)} |",
    ]
    if result.postgres:
        pg = result.postgres
        total_cpu = sum(pg.cpu_s.values()) + (pg.postgres_cpu_s or 0.0)
        lines.append(
            f"| PostgreSQL, serve + {workers} workers, reports/s | {pg.rate:.1f} | — | for information "
            f"(Finrail + PostgreSQL CPU per posting: {1000 * total_cpu / pg.postings:.0f} ms) |"
        )
    lines += [
        "",
        "### Where the time goes",
        "",
        "Time of each step from the timeline (from the previous event of the same instance to the step's "
        "commit: a step's own calls, plus, for `load-report`, the wait until a worker claims the instance — "
        "all postings are started at once and the worker advances 16 at a time, so that wait is most of a "
        "posting's lag). `(stopped)` rows are steps that stopped the posting in the exception queue.",
        "",
        *_steps_table(runs_for_steps),
        "",
    ]
    if last.profile:
        lines += [
            f"Profile of the embedded `finrail serve` during round {len(embedded)} (py-spy):",
            "",
            *last.profile,
            "",
        ]
    if result.postgres and result.postgres.profile:
        lines += ["Profile of the PostgreSQL scenario's `finrail serve` (py-spy):", "", *result.postgres.profile, ""]
    lines += [
        "## 2. Budget check latency at a steady request rate (open loop, embedded SQLite)",
        "",
        "| rate /s | measured s | sent | 2xx | no answer | answered /s | p50 ms | p95 ms | p99 ms | max ms "
        "| from send p50 / p99 ms | send lag p99 ms | server CPU s | checks per server CPU-s | server core share |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_budget_row(run) for run in result.budget),
        "",
    ]
    if high is not None:
        p99 = high.result.latency.p99_ms
        lines += [
            "| measure | value | target | |",
            "|---|---:|---:|---|",
            f"| p99 at {high.rate:g} checks/s | {p99:,.1f} ms | ≤ {TARGET_CHECK_P99_MS:g} ms "
            f"| {_met(p99 <= TARGET_CHECK_P99_MS and high.result.errors == 0)} |",
            "",
        ]
    if result.budget_profile:
        lines += [
            f"Profile of the server during the {result.budget[0].rate:g}/s run (py-spy):",
            "",
            *result.budget_profile,
            "",
        ]
    lines += [FLOWS_END, ""]
    return "\n".join(lines)


async def postgres_version(admin_url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
