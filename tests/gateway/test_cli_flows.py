"""``finrail flows``: list, show and act on flow instances from the command line, on both backends.

The operations commands know no domain, so the in-process tests register one toy flow in the
gateway the command starts (``ops-cli-toy``: a step that stops with a business reason on
demand, or fails technically while its key is marked down) and bring instances into the
exception and dead-letter queues by running the real worker. One test runs the installed
``finrail`` executable as a user does, without any toy.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import gateway.app
import gateway.processes
from gateway.app import create_app
from gateway.cli import main
from gateway.settings import load_settings
from process_apis.flow.model import BusinessError, Flow, Step, StepContext, StepOutput, TechnicalError
from process_apis.flow.worker import Worker
from tests.support import BIN, finrail, server_env

TOY = "ops-cli-toy"
DOWN: set[str] = set()


async def _check(context: StepContext) -> StepOutput:
    if context.key in DOWN:
        raise TechnicalError("ERP answered 503")
    if context.input.get("stop") and context.decision is None:
        raise BusinessError(str(context.input["stop"]), f"{context.key} cannot be posted as it stands")
    return {"decision": context.decision}


TOY_FLOW = Flow(TOY, (Step("check", _check),))


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> str:
    path = tmp_path / "finrail.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[storage]\nurl = "{database_url}"\n[logging]\nlevel = "ERROR"\n'
        '[flows.worker]\nbackoff_base_seconds = 0.0\nbackoff_cap_seconds = 0.0\nmax_attempts = 2\n'
    )
    return str(path)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every gateway built in this test runs the toy flow besides the shipped ones.

    ``gateway.app`` calls ``process_runtime`` by the name it imported; that name is replaced.
    """
    real = gateway.processes.process_runtime

    def with_toy(*args: Any, **kwargs: Any) -> Any:
        runtime, http = real(*args, **kwargs)
        runtime.engine.flows[TOY] = TOY_FLOW
        return runtime, http

    monkeypatch.setattr(gateway.app, "process_runtime", with_toy)
    DOWN.clear()
    yield
    DOWN.clear()


def _prepare(config: str, *, run: bool = True, **starts: dict[str, Any]) -> dict[str, str]:
    """Start one toy instance per keyword (key -> input) and run the worker; returns their ids."""
    async def go() -> dict[str, str]:
        settings = load_settings(config)
        settings = msgspec.structs.replace(
            settings, server=msgspec.structs.replace(settings.server, embedded_worker=False))
        app = create_app(settings)
        await app.startup()
        try:
            ids = {}
            for key, input in starts.items():
                instance, _ = await app.runtime.engine.store.start(TOY, key, input)
                ids[key] = instance.id
            if run:
                await Worker(app.runtime.engine, app.runtime.system, name="test").run_until_idle()
            return ids
        finally:
            await app.shutdown()

    return asyncio.run(go())


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_and_show_the_queues(config: str, toy: None, capsys: pytest.CaptureFixture[str]) -> None:
    DOWN.add("down")
    ids = _prepare(config, stopped={"stop": "period-closed"}, down={}, done={})

    code, out, _ = run(capsys, "--config", config, "flows", "list", "--flow", TOY, "--json")
    assert code == 0
    listed = json.loads(out)
    assert [item["id"] for item in listed] == [ids["done"], ids["down"], ids["stopped"]]

    code, out, _ = run(capsys, "--config", config, "flows", "list", "--flow", TOY, "--status", "exception",
                       "--json")
    assert [(item["key"], item["reason"]) for item in json.loads(out)] == [("stopped", "period-closed")]
    code, out, _ = run(capsys, "--config", config, "flows", "list", "--flow", TOY, "--status", "dead")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(ids["down"])
    assert "technical" in lines[0]
    assert lines[0].endswith("down")
    code, out, _ = run(capsys, "--config", config, "flows", "list", "--reason", "period-closed", "--json")
    assert [item["id"] for item in json.loads(out)] == [ids["stopped"]]

    code, out, _ = run(capsys, "--config", config, "flows", "show", ids["down"])
    assert code == 0
    assert f"id:             {ids['down']}" in out
    assert "status:         dead" in out
    assert "reason:         technical" in out
    timeline = out.split("timeline:\n", 1)[1].splitlines()
    assert [line.split()[2] for line in timeline] == ["started", "retry-scheduled", "dead-lettered"]
    assert "ERP answered 503" in timeline[-1]

    code, out, _ = run(capsys, "--config", config, "flows", "show", ids["stopped"], "--json")
    shown = json.loads(out)
    assert shown["instance"]["status"] == "exception"
    assert [entry["kind"] for entry in shown["timeline"]] == ["started", "exception"]


def test_retry_resolve_replay_and_cancel(config: str, toy: None, capsys: pytest.CaptureFixture[str]) -> None:
    DOWN.add("down")
    ids = _prepare(config, stopped={"stop": "period-closed"}, down={}, other={"stop": "inactive-cost-center"})
    DOWN.clear()

    code, _, err = run(capsys, "--config", config, "flows", "resolve", ids["down"], "--decision", "approve")
    assert code == 2
    assert err == f"finrail: instance {ids['down']} is dead; this action needs it to be exception\n"

    code, out, _ = run(capsys, "--config", config, "flows", "retry", ids["down"], "--note", "ERP is back")
    assert code == 0
    assert out == f"{ids['down']}: retry recorded; now active at step check\n"
    code, out, _ = run(capsys, "--config", config, "flows", "resolve", ids["stopped"], "--decision", "approve",
                       "--note", "period reopened", "--json")
    assert code == 0
    assert json.loads(out)["status"] == "active"
    code, out, _ = run(capsys, "--config", config, "flows", "cancel", ids["other"], "--note", "withdrawn")
    assert code == 0
    assert "now compensating" in out
    _prepare(config)  # the worker runs what the commands woke up

    code, out, _ = run(capsys, "--config", config, "flows", "list", "--flow", TOY, "--json")
    statuses = {item["key"]: item["status"] for item in json.loads(out)}
    assert statuses == {"down": "completed", "stopped": "completed", "other": "cancelled"}
    code, out, _ = run(capsys, "--config", config, "flows", "show", ids["stopped"], "--json")
    shown = json.loads(out)
    assert shown["instance"]["outputs"] == {"check": {"decision": "approve"}}
    resolved = [entry for entry in shown["timeline"] if entry["kind"] == "resolved"]
    assert [entry["detail"] for entry in resolved] == [
        f"decision 'approve' by operator:{getpass.getuser()}: period reopened"]

    code, out, _ = run(capsys, "--config", config, "flows", "replay", ids["stopped"], "--json")
    assert code == 0
    assert (json.loads(out)["status"], json.loads(out)["outputs"]) == ("active", {})

    code, _, err = run(capsys, "--config", config, "flows", "retry", "no-such-instance")
    assert (code, err) == (2, "finrail: no flow instance no-such-instance\n")

    # each action is audited as the operator's change, and the chain verifies
    code, out, _ = run(capsys, "--config", config, "audit", "export")
    changes = [record for record in map(json.loads, out.splitlines()) if record["client_id"] == "operator"]
    assert [(record["operation"], record["client_id"], record["resource_ids"]["instance_id"])
            for record in changes] == [
        ("retry_flow_instance", "operator", ids["down"]),
        ("resolve_flow_instance", "operator", ids["stopped"]),
        ("cancel_flow_instance", "operator", ids["other"]),
        ("replay_flow_instance", "operator", ids["stopped"]),
    ]
    assert changes[1]["before"]["status"] == "exception"
    assert changes[1]["after"]["status"] == "active"
    code, out, _ = run(capsys, "--config", config, "audit", "verify")
    assert out.startswith("OK: ")


def test_the_installed_command_lists_shows_and_refuses(database_url: str, tmp_path: Path) -> None:
    env = server_env(database_url, tmp_path / "data")

    async def start() -> str:
        app = create_app(load_settings(environ={}, data_dir=str(tmp_path / "data"), storage={"url": database_url},
                                       server={"embedded_worker": False}))
        await app.startup()
        try:
            instance, _ = await app.runtime.engine.store.start("retired-flow", "k-1", {"amount": "10.00"})
            return instance.id
        finally:
            await app.shutdown()

    instance_id = asyncio.run(start())
    listed = json.loads(finrail(env, "flows", "list", "--json"))
    assert [(item["id"], item["flow"], item["status"]) for item in listed] == [(instance_id, "retired-flow", "active")]
    shown = finrail(env, "flows", "show", instance_id)
    assert "flow:           retired-flow" in shown
    assert "started for k-1" in shown

    for args in (("flows", "retry", instance_id), ("flows", "show", "nobody"), ("flows", "list", "--status", "x")):
        done = subprocess.run([BIN / "finrail", *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done
        assert "Traceback" not in done.stderr
    refused = subprocess.run([BIN / "finrail", "flows", "retry", instance_id], env=env, capture_output=True,
                             text=True, timeout=120)
    assert refused.stderr == ("finrail: flow retired-flow is not run by this deployment; its instances cannot be "
                              "acted on\n")


def test_a_worker_runs_until_sigterm_and_then_stops_cleanly(tmp_path: Path) -> None:
    env = server_env(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'finrail.db'}", tmp_path / "data",
                     logging__level="INFO")
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        process = subprocess.Popen([BIN / "finrail", "worker", "--name", "night-shift"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "finrail worker night-shift" not in log.read_text():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text
    assert "Traceback" not in text
    assert "flows, calling the system APIs in this process" in text


def test_the_demo_drives_a_day_and_prints_the_kpis(tmp_path: Path) -> None:
    env = server_env(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'finrail.db'}", tmp_path / "data")
    done = subprocess.run(
        [BIN / "finrail", "demo", "--suppliers", "3", "--reports", "4", "--requisitions", "2", "--invoices", "2"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "The day in numbers" in done.stderr
    assert "expense-posting" in done.stderr
    assert "reports approved by managers" in done.stderr
    assert "payments confirmed" in done.stderr
    listed = json.loads(finrail(env, "flows", "list", "--json"))
    flows = {item["flow"] for item in listed}
    assert {"supplier-onboarding", "expense-posting"} <= flows
    assert all(item["status"] in ("completed", "exception", "dead") for item in listed
               if item["flow"] in ("supplier-onboarding", "expense-posting")), "every started flow settled"
