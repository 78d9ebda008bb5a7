"""Structured logs: one JSON object per line on stderr, each carrying the call's correlation id.

A log line is only useful in production when it can be joined to the call that caused it, so
every record carries the correlation id of the request being served (the same id the client
got back and the audit trail stores). Tracebacks become one string field instead of many lines,
so a log shipper never splits one event into several. Uvicorn's loggers are routed through the
same handler; its access log stays quiet unless asked for, since the audit trail already
records every governed call.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

import msgspec

from gateway.settings import LoggingSettings
from policies.correlation import current_correlation_id

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging"]

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
"""Loggers uvicorn writes to; they propagate to the root handler instead of their own."""

_RECORD_FIELDS = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "color_message"}
)
"""Attributes every record has (and uvicorn's ANSI-coloured copy of the message); anything
else on a record came from ``extra=`` and is logged."""

_encoder = msgspec.json.Encoder(enc_hook=str)


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line.

    Fields: ``timestamp`` (ISO-8601, UTC), ``level``, ``logger``, ``message``,
    ``correlation_id`` (null outside a call), ``exc`` and ``stack`` when present, and any
    ``extra=`` attributes the caller attached.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Encode ``record``; newlines inside values are escaped, so the output is one line."""
        entry: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": current_correlation_id(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS and name not in entry and not name.startswith("_"):
                entry[name] = value
        return _encoder.encode(entry).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, still carrying the correlation id."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(correlation_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` with ``-`` standing for a missing correlation id."""
        record.correlation_id = current_correlation_id() or "-"
        return super().format(record)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        """Ignore the stream the base class assigns; the current ``sys.stderr`` is always used."""


def configure_logging(settings: LoggingSettings) -> None:
    """Send every log record of the process, uvicorn's included, to stderr in one format.

    Calling it again replaces the handler it installed before (it never adds a second one),
    so a reload or a test can reconfigure freely. Handlers installed by others are kept.

    Args:
        settings: Level, JSON or plain text, and whether uvicorn's access log is written.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
            handler.close()
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if settings.json else TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.level.upper())
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.setLevel(logging.NOTSET)
    access = logging.getLogger("uvicorn.access")
    access.setLevel(logging.INFO if settings.access_log else logging.WARNING)
