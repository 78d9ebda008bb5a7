"""Payments process API (``/process/payments/v1``): payment status syncs.

A sync takes one bank confirmation of a treasury payment run to the ERP (one payment per
obligation) and back to where each debt came from (``paid`` in the expense platform for a
reimbursement, the payment recorded on the procurement invoice for a supplier invoice). The
treasury platform's ``payment.confirmed`` and ``payment.rejected`` events start syncs through
``/events/treasury``; ``POST /syncs`` starts one by hand (after an outage of the event
delivery, say). One sync exists per confirmation: starting it again answers the existing one.
"""

# No `from __future__ import annotations`: Litestar must see the real parameter types.

from typing import Annotated

import msgspec
from litestar import Router

from policies.problems import Problem, problem_spec
from process_apis.flow.runtime import Runtime
from process_apis.flow.store import Instance
from process_apis.kit.collection import FlowCollection, collection_routes
from process_apis.payment_status.flows import CONFIRMATION_ID_PATTERN, FLOW, RUN_ID_PATTERN

__all__ = ["NAME", "PREFIX", "SCOPES", "SUMMARY", "SyncRequest", "routes"]

NAME = "payments"
PREFIX = f"/process/{NAME}/v1"
SUMMARY = (
    "Payment status sync: a bank confirmation becomes an ERP payment per obligation, a paid reimbursement in "
    "expense and a paid invoice in procurement; rejections and mismatches wait in the exception queue."
)
SCOPES = {
    f"process:{NAME}:read": "Read payment status syncs and their timelines.",
    f"process:{NAME}:write": "Start the payment status sync of a bank confirmation.",
}


class SyncRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which bank confirmation to sync."""

    confirmation_id: Annotated[
        str, msgspec.Meta(pattern=CONFIRMATION_ID_PATTERN, description="Treasury bank confirmation id.")
    ]
    """The confirmation's id in treasury: the sync's key (one sync per confirmation)."""
    payment_run_id: Annotated[
        str, msgspec.Meta(pattern=RUN_ID_PATTERN, description="Treasury payment run the confirmation answers.")
    ]
    """The payment run the confirmation answers; the run and its obligations are read from treasury."""


def _same_run(instance: Instance, request: SyncRequest) -> None:
    if instance.input.get("payment_run_id") != request.payment_run_id:
        raise Problem(409, f"the sync of confirmation {request.confirmation_id} exists for payment run "
                           f"{instance.input.get('payment_run_id')}, not {request.payment_run_id}",
                      kind="confirmation-run-mismatch")


SYNCS = FlowCollection(
    api=NAME,
    prefix=PREFIX,
    path="/syncs",
    flow=FLOW,
    noun="payment status sync",
    operation="sync",
    request=SyncRequest,
    key=lambda request: request.confirmation_id,
    input=lambda request: {"confirmation_id": request.confirmation_id, "payment_run_id": request.payment_run_id,
                           "source": "api"},
    key_filter="confirmation_id",
    key_pattern=CONFIRMATION_ID_PATTERN,
    key_description="Only this bank confirmation's sync.",
    existing=_same_run,
    start_responses={409: problem_spec("This confirmation's sync exists for another payment run.")},
)


def routes(runtime: Runtime) -> list[Router]:
    """The process API as one router bound to ``runtime``."""
    return [Router(path=PREFIX, route_handlers=collection_routes(runtime, SYNCS))]
