"""Structured logs: one JSON object per line on stderr, carrying the correlation id."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.logging import UVICORN_LOGGERS, configure_logging
from gateway.settings import LoggingSettings
from policies.call import Call, RoutePolicy
from policies.config import ThreatConfig
from policies.correlation import Correlation

ROUTE = RoutePolicy(
    api="admin",
    version=1,
    method="GET",
    template="/admin/v1/clients",
    operation="list_clients",
    scopes=("admin:read",),
    public=False,
    effect=False,
    rates=(),
    threat=ThreatConfig(),
)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Leave the process's logging as the test found it."""
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved = {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).level,
                    logging.getLogger(name).propagate) for name in UVICORN_LOGGERS}
    yield
    root.handlers[:] = saved_root[0]
    root.setLevel(saved_root[1])
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def json_lines(err: str) -> list[dict[str, Any]]:
    lines = [line for line in err.splitlines() if line]
    return [json.loads(line) for line in lines]


def make_call(correlation_id: str) -> Call:
    scope: Any = {
        "type": "http",
        "method": "GET",
        "path": "/admin/v1/clients",
        "headers": [(b"x-correlation-id", correlation_id.encode())],
        "state": {},
    }
    return Call(scope=scope, route=ROUTE)


async def test_records_logged_during_a_call_carry_its_correlation_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(LoggingSettings(json=True))
    logger = logging.getLogger("finrail.test")
    correlation = Correlation()
    call = make_call("order-42")

    await correlation.on_request(call)
    logger.info("inside the call")
    await correlation.on_finish(call)
    logger.info("after the call")

    inside, after = json_lines(capsys.readouterr().err)
    assert inside["message"] == "inside the call"
    assert inside["correlation_id"] == "order-42"
    assert inside["level"] == "INFO"
    assert inside["logger"] == "finrail.test"
    assert inside["timestamp"].endswith("Z")
    assert after["correlation_id"] is None


def test_exceptions_become_one_field_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggingSettings(json=True))
    logger = logging.getLogger("finrail.test")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logger.exception("division failed")

    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    (entry,) = json_lines(err)
    assert entry["level"] == "ERROR"
    assert entry["message"] == "division failed"
    assert "Traceback" in entry["exc"]
    assert "ZeroDivisionError" in entry["exc"]


def test_extra_fields_are_included(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggingSettings(json=True))
    logging.getLogger("finrail.test").warning("slow call", extra={"elapsed_ms": 1234, "api": "admin"})

    (entry,) = json_lines(capsys.readouterr().err)
    assert entry["elapsed_ms"] == 1234
    assert entry["api"] == "admin"


def test_configuring_twice_installs_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    before = len(logging.getLogger().handlers)
    configure_logging(LoggingSettings(json=True))
    configure_logging(LoggingSettings(json=True))

    assert len(logging.getLogger().handlers) == before + 1
    logging.getLogger("finrail.test").info("once")
    assert len(json_lines(capsys.readouterr().err)) == 1


def test_level_filters_records(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggingSettings(level="WARNING", json=True))
    logging.getLogger("finrail.test").info("hidden")
    logging.getLogger("finrail.test").warning("shown")

    assert [entry["message"] for entry in json_lines(capsys.readouterr().err)] == ["shown"]


async def test_plain_text_when_json_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggingSettings(json=False))
    correlation = Correlation()
    call = make_call("plain-7")
    await correlation.on_request(call)
    logging.getLogger("finrail.test").info("hello")
    await correlation.on_finish(call)

    line = capsys.readouterr().err.strip()
    assert not line.startswith("{")
    assert "INFO" in line
    assert "finrail.test" in line
    assert "[plain-7]" in line
    assert line.endswith("hello")


def test_uvicorn_logs_go_through_the_same_formatter(capsys: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler())
    configure_logging(LoggingSettings(json=True))
    logging.getLogger("uvicorn.error").info("Application startup complete.")

    (entry,) = json_lines(capsys.readouterr().err)
    assert entry["logger"] == "uvicorn.error"
    assert entry["message"] == "Application startup complete."


def test_uvicorn_access_log_is_quiet_unless_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    access = logging.getLogger("uvicorn.access")
    configure_logging(LoggingSettings(json=True))
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/health/live", "1.1", 200)
    assert capsys.readouterr().err == ""

    configure_logging(LoggingSettings(json=True, access_log=True))
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/health/live", "1.1", 200)
    (entry,) = json_lines(capsys.readouterr().err)
    assert entry["logger"] == "uvicorn.access"
    assert "GET /health/live" in entry["message"]
