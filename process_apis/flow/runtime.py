"""What a process API is built from, and how inbound events reach its flows.

A process package (``process_apis/<name>/``) declares its flows, the events that start them
(:class:`Trigger`) and its recurring work; the gateway collects them into one
:class:`FlowEngine` and hands every process API's route factory the same :class:`Runtime`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from process_apis.flow.client import SystemClient
from process_apis.flow.model import Flow, Schedule
from process_apis.flow.worker import FlowEngine

__all__ = ["ProcessDefinition", "Runtime", "Trigger"]


@dataclass(frozen=True, slots=True)
class Trigger:
    """An inbound platform event that starts a flow."""

    platform: str
    """Platform the event comes from (``expense``, ``procurement``, ...): the ``/events/{platform}``."""
    event: str
    """Event type as the platform names it (the Standard Webhooks envelope's ``type``)."""
    flow: str
    """Flow to start."""
    key: Callable[[Mapping[str, Any]], str | None]
    """Business key from the event's ``data``; ``None`` ignores the event (not this flow's)."""
    input: Callable[[Mapping[str, Any]], Mapping[str, Any]] = dict
    """Input of the started instance, from the event's ``data``."""


@dataclass(frozen=True, slots=True)
class ProcessDefinition:
    """Everything one process package contributes to the engine."""

    flows: Sequence[Flow] = ()
    """Its flows."""
    triggers: Sequence[Trigger] = ()
    """Events that start them."""
    schedules: Sequence[Schedule] = ()
    """Recurring windows that start them."""

    @classmethod
    def of(cls, module: ModuleType) -> ProcessDefinition:
        """Read ``FLOWS``, ``TRIGGERS`` and ``SCHEDULES`` of a package's ``flows`` module."""
        return cls(
            flows=tuple(getattr(module, "FLOWS", ())),
            triggers=tuple(getattr(module, "TRIGGERS", ())),
            schedules=tuple(getattr(module, "SCHEDULES", ())),
        )


@dataclass(frozen=True, slots=True)
class Runtime:
    """What a process API's handlers use: the engine, the system APIs and the database."""

    engine: FlowEngine
    """Flows, their store and the worker settings."""
    system: SystemClient
    """Governed client of the system APIs (for synchronous calls such as the budget check)."""
    database: AsyncEngine
    """The database, for a process's own tables (budget reservations, mapping sets)."""
    triggers: Sequence[Trigger] = field(default_factory=tuple)
    """Every trigger of every process, for the event intake."""
    webhook_secrets: Mapping[str, str] = field(default_factory=dict)
    """Standard Webhooks secret of each platform whose events are accepted, by platform name."""
