"""What a person can do with an instance that waits in a queue: resolve, retry, replay, cancel.

The finance exception queue holds instances stopped by a business rule (status
``exception``); the dead-letter queue holds instances whose technical failures outlasted the
retries (status ``dead``). Every action is recorded on the instance's timeline with who took
it and why, and the instance goes back to the worker at once.

* **resolve** — record a decision for the stopped step (``approve`` a suspected duplicate,
  ``merge`` into an existing supplier, ...) and run the step again with it;
* **retry** — run the stopped step again unchanged (after the period was reopened, the cost
  center activated, the platform came back);
* **replay** — run the flow again from its first step; every create carries the same
  ``Idempotency-Key`` as before, so effects that already happened are not repeated;
* **cancel** — undo the completed steps that have a compensation, newest first, then stop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from process_apis.flow.store import Instance, InstanceBusy
from process_apis.flow.worker import FlowEngine

__all__ = ["Action", "InstanceBusy", "act"]

Action = Literal["resolve", "retry", "replay", "cancel"]

_WAITING = ("exception", "dead")


def _resolve(engine: FlowEngine, decision: str) -> Any:
    def values(instance: Instance) -> dict[str, Any]:
        flow = engine.flows.get(instance.flow)
        if flow is None:
            raise InstanceBusy(f"flow {instance.flow} does not run in this deployment; nothing can resume it")
        step = flow.steps[instance.step].name
        decisions = {**instance.state.get("_decisions", {}), step: decision}
        return {"status": "active", "attempt": 0, "reason": None, "detail": None, "due_at": datetime.now(UTC),
                "state": {**instance.state, "_decisions": decisions}}
    return values


def _retry(instance: Instance) -> dict[str, Any]:
    return {"status": "active", "attempt": 0, "reason": None, "detail": None, "due_at": datetime.now(UTC)}


def _replay(instance: Instance) -> dict[str, Any]:
    kept = {"_decisions": instance.state["_decisions"]} if "_decisions" in instance.state else {}
    return {"status": "active", "step": 0, "attempt": 0, "reason": None, "detail": None, "state": kept,
            "due_at": datetime.now(UTC), "finished_at": None}


def _cancel(instance: Instance) -> dict[str, Any]:
    return {"status": "compensating", "step": instance.step - 1, "attempt": 0, "due_at": datetime.now(UTC)}


async def act(
    engine: FlowEngine, instance_id: str, action: Action, *, actor: str, note: str = "", decision: str | None = None,
) -> Instance | None:
    """Apply ``action`` to an instance and wake the worker.

    Args:
        engine: The flow engine.
        instance_id: The instance.
        action: What to do.
        actor: Who does it (client id or person), recorded on the timeline.
        note: Why, recorded on the timeline.
        decision: The decision ``resolve`` records for the stopped step.

    Returns:
        The instance after the action, or None when there is no such instance.

    Raises:
        InstanceBusy: The action does not apply to the instance as it stands.
        ValueError: ``resolve`` without a decision.
    """
    said = f"by {actor}" + (f": {note}" if note else "")
    if action == "resolve":
        if not decision:
            raise ValueError("resolve needs a decision")
        changed = await engine.store.change(instance_id, ("exception",), "resolved",
                                            f"decision {decision!r} {said}", _resolve(engine, decision))
    elif action == "retry":
        changed = await engine.store.change(instance_id, _WAITING, "retried", said, _retry)
    elif action == "replay":
        changed = await engine.store.change(instance_id, (*_WAITING, "completed", "cancelled"), "replayed", said,
                                            _replay)
    else:
        changed = await engine.store.change(instance_id, (*_WAITING, "active"), "cancel-requested", said, _cancel)
    engine.wake()
    return changed
