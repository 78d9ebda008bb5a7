"""Settings: one TOML file plus ``FINRAIL_*`` environment overrides, parsed into frozen Structs.

An environment variable names a key path with double underscores, e.g.
``FINRAIL_SERVER__PORT=9000`` or ``FINRAIL_THROTTLING__STORAGE=redis://127.0.0.1:6379/0``.
Values from the environment are parsed as TOML values when they can be (numbers, booleans,
arrays) and taken as strings otherwise. A bad setting raises :class:`SettingsError` naming
the key, so ``finrail`` can print one line instead of a traceback.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from policies.chain import POLICY_ORDER
from policies.config import (
    AuditConfig,
    AuthConfig,
    IdempotencyConfig,
    PolicyConfig,
    ThreatConfig,
    ThrottlingConfig,
)
from process_apis.flow.worker import WorkerConfig

__all__ = [
    "FlowSettings",
    "LoggingSettings",
    "PlatformSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "StorageSettings",
    "load_settings",
]

ENV_PREFIX = "FINRAIL_"


class SettingsError(Exception):
    """A setting is missing, unknown or malformed; the message names the key."""


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base for settings sections: immutable and strict about unknown keys."""


class ServerSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where ``finrail serve`` listens."""

    host: str = "127.0.0.1"
    """Interface to bind."""
    port: int = 8000
    """TCP port to bind."""
    graceful_timeout_seconds: float = 10.0
    """How long shutdown waits for requests in flight before closing connections."""
    embedded_worker: bool = True
    """Run the flow worker inside the serving process (the embedded default)."""


class StorageSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The database holding all durable state."""

    url: str | None = None
    """SQLAlchemy async URL; defaults to ``sqlite+aiosqlite:///<data_dir>/finrail.db``."""
    pool_size: int = 10
    """Connections kept open per process (PostgreSQL)."""
    auto_migrate: bool = True
    """Apply migrations at start; turn off when ``finrail db upgrade`` runs in a deploy step."""


class LoggingSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Structured logs."""

    level: str = "INFO"
    """Lowest level written: DEBUG, INFO, WARNING or ERROR."""
    json: bool = True
    """Write one JSON object per line (with the correlation id) instead of plain text."""
    access_log: bool = False
    """Log one line per request (the audit trail already records every governed call)."""


class PlatformSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One platform Finrail wraps: its built-in sandbox (the default) or a real one."""

    base_url: str | None = None
    """Base URL of the real platform; unset = the embedded sandbox, mounted at ``/sandbox/<name>/``."""
    connection: dict[str, Any] = msgspec.field(default_factory=dict)
    """Connector settings: timeouts, retries, breaker, outbound rate, credentials (see README)."""
    sandbox: dict[str, Any] = msgspec.field(default_factory=dict)
    """Settings of the embedded sandbox: ``seed``, ``faults``, ``webhook_url``, ``data_path``…"""
    webhook_secret: str | None = None
    """Standard Webhooks secret (``whsec_…``) the platform signs its events to ``/events/<name>``
    with; unset = the embedded sandbox's secret, or no events accepted from a real platform."""


class FlowSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The process tier's flows and the worker that runs them."""

    system_url: str | None = None
    """Base URL of the gateway serving the system APIs; unset = call them in-process."""
    worker: WorkerConfig = msgspec.field(default_factory=WorkerConfig)
    """Leases, batches and retries of the flow worker."""


class Settings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything Finrail can be told; every field has a working embedded default."""

    data_dir: str = ".finrail"
    """Directory for the SQLite database and other local state."""
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    """HTTP server."""
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    """Database."""
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    """Logs."""
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    """Token issuing and verification."""
    throttling: ThrottlingConfig = msgspec.field(default_factory=ThrottlingConfig)
    """Rate limits."""
    threat: ThreatConfig = msgspec.field(default_factory=ThreatConfig)
    """Threat limits applied to every API unless an API overrides them."""
    idempotency: IdempotencyConfig = msgspec.field(default_factory=IdempotencyConfig)
    """Idempotency-Key handling."""
    audit: AuditConfig = msgspec.field(default_factory=AuditConfig)
    """Audit trail batching."""
    redis_url: str | None = None
    """Redis checked by ``/health/ready``; defaults to the throttling storage when it is Redis."""
    apis: dict[str, PolicyConfig] = msgspec.field(default_factory=dict)
    """Per-API policy overrides, keyed by catalog name (``admin``, ``identity``, …)."""
    platforms: dict[str, PlatformSettings] = msgspec.field(default_factory=dict)
    """The platforms behind the system APIs, keyed by name (``erp``, ``expense``, …)."""
    flows: FlowSettings = msgspec.field(default_factory=FlowSettings)
    """Flows of the process tier and their worker."""

    @property
    def database_url(self) -> str:
        """The storage URL, with the embedded SQLite default resolved against ``data_dir``."""
        if self.storage.url:
            return self.storage.url
        return f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'finrail.db'}"

    def policy_for(self, api: str) -> PolicyConfig:
        """The policy overrides of one API (empty when none are configured)."""
        return self.apis.get(api) or PolicyConfig()


def _env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == "FINRAIL_CONFIG":
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SettingsError(f"setting {'.'.join(path)} (from {name}): {part} is not a table")
            node = child
        node[path[-1]] = _env_value(raw)


def _merge(target: dict[str, Any], changes: Mapping[str, Any]) -> None:
    for key, value in changes.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            _merge(current, value)
        else:
            target[key] = value


def _describe(error: msgspec.ValidationError) -> str:
    message = str(error)
    if " - at `$." in message:
        detail, _, where = message.rpartition(" - at `$.")
        return f"setting {where.rstrip('`')}: {detail}"
    return f"settings: {message}"


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read settings from a TOML file (optional), the environment and keyword overrides.

    Args:
        path: TOML file; ``FINRAIL_CONFIG`` is used when not given. No file is fine.
        environ: Environment to read ``FINRAIL_*`` overrides from (``os.environ`` by default).
        **overrides: Top-level keys that win over the file and the environment (CLI flags).

    Returns:
        The validated settings.

    Raises:
        SettingsError: A file cannot be read or a value is invalid; the message names the key.
    """
    environ = os.environ if environ is None else environ
    path = path or environ.get("FINRAIL_CONFIG")
    # Start from the defaults so that a file or variable setting one key of a table (say one
    # SLA tier) changes that key and keeps the others.
    data: dict[str, Any] = msgspec.to_builtins(Settings())
    if path:
        try:
            _merge(data, tomllib.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise SettingsError(f"settings file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None
    _apply_env(data, environ)
    _merge(data, {key: value for key, value in overrides.items() if value is not None})
    try:
        settings = msgspec.convert(data, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    if settings.auth.algorithm not in {"ES256", "RS256"}:
        raise SettingsError("setting auth.algorithm: must be ES256 or RS256 (asymmetric only)")
    if settings.idempotency.retention_hours < 24:
        raise SettingsError("setting idempotency.retention_hours: must be at least 24")
    if settings.throttling.default_tier not in settings.throttling.tiers:
        raise SettingsError("setting throttling.default_tier: must name one of throttling.tiers")
    if settings.logging.level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError("setting logging.level: must be DEBUG, INFO, WARNING or ERROR")
    url = settings.database_url
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise SettingsError("setting storage.url: must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
    for name, limit in [("throttling.spike", settings.throttling.spike), ("auth.token_endpoint_rate",
                        settings.auth.token_endpoint_rate), *(
            (f"throttling.tiers.{tier}", value) for tier, value in settings.throttling.tiers.items())]:
        _check_rate(name, limit)
    for api, config in settings.apis.items():
        unknown = set(config.enabled or ()) - set(POLICY_ORDER)
        if unknown:
            raise SettingsError(
                f"setting apis.{api}.enabled: unknown policies {sorted(unknown)}; known: {', '.join(POLICY_ORDER)}"
            )
        if config.rate:
            _check_rate(f"apis.{api}.rate", config.rate)
        for route, route_config in config.routes.items():
            if route_config.rate:
                _check_rate(f"apis.{api}.routes.{route}.rate", route_config.rate)


def _check_rate(name: str, value: str) -> None:
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise SettingsError(f"setting {name}: {value!r} is not a rate such as '100/minute'") from None
