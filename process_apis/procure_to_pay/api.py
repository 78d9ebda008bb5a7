"""Procure-to-pay process API (``/process/procure-to-pay/v1``).

Two resources, one per flow (see :mod:`process_apis.procure_to_pay.flows`):

* ``/matches`` — the three-way match and ERP posting of one procurement supplier invoice (the
  same thing the procurement platform's ``invoice.submitted`` event starts through
  ``/events/procurement``): running, completed with its ERP document id, or waiting in the
  finance exception queue with a reason code (``price-variance``, ``quantity-variance``,
  ``not-received``, ``unknown-supplier-in-erp``, ...). The start may give tolerances other
  than the defaults of :mod:`process_apis.procure_to_pay.matching`.
* ``/commitments`` — the commitment of one issued purchase order on its planning budget
  lines (started by ``purchase_order.issued``, or here).

One match exists per invoice and one commitment per purchase order: starting again answers
the existing one (200), whatever tolerances the repeat gives.
"""

# No `from __future__ import annotations`: Litestar must see the real parameter types.

from typing import Annotated, Any

import msgspec
from litestar import Router

from process_apis.flow.runtime import Runtime
from process_apis.kit.collection import FlowCollection, collection_routes
from process_apis.procure_to_pay.flows import COMMITMENT_FLOW, ID_PATTERN, MATCH_FLOW, MATCH_FLOW_NAME
from process_apis.procure_to_pay.matching import Tolerances

__all__ = ["NAME", "PREFIX", "SCOPES", "SUMMARY", "CommitmentRequest", "MatchRequest", "routes"]

NAME = MATCH_FLOW_NAME
PREFIX = f"/process/{NAME}/v1"
SUMMARY = (
    "Procure to pay: issued POs committed on planning budget lines; supplier invoices three-way matched "
    "with the PO and receipts within tolerances, then posted once in the ERP, or stopped as a variance."
)
SCOPES = {
    f"process:{NAME}:read": "Read invoice matches, PO commitments and their timelines.",
    f"process:{NAME}:write": "Start the match of a supplier invoice or the commitment of a purchase order.",
}

class MatchRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which procurement invoice to match and post."""

    invoice_id: Annotated[str, msgspec.Meta(pattern=ID_PATTERN, description="Procurement invoice id.")]
    """The invoice's id in the procurement platform; the invoice, its order and receipts are read from there."""
    tolerances: Tolerances | None = None
    """Tolerances for this match; the defaults where left out (only used when the match starts here)."""


class CommitmentRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which procurement purchase order to commit on its budget lines."""

    purchase_order_id: Annotated[str, msgspec.Meta(pattern=ID_PATTERN, description="Procurement purchase order id.")]
    """The order's id in the procurement platform; it is read from there."""


def _match_input(request: MatchRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"invoice_id": request.invoice_id, "source": "api"}
    if request.tolerances is not None:
        body["tolerances"] = msgspec.to_builtins(request.tolerances)
    return body


MATCHES = FlowCollection(
    api=NAME,
    prefix=PREFIX,
    path="/matches",
    flow=MATCH_FLOW,
    noun="invoice match",
    operation="match",
    request=MatchRequest,
    key=lambda request: request.invoice_id,
    input=_match_input,
    key_filter="invoice_id",
    key_pattern=ID_PATTERN,
    key_description="Only this procurement invoice's match.",
)

COMMITMENTS = FlowCollection(
    api=NAME,
    prefix=PREFIX,
    path="/commitments",
    flow=COMMITMENT_FLOW,
    noun="purchase order commitment",
    operation="commitment",
    request=CommitmentRequest,
    key=lambda request: request.purchase_order_id,
    input=lambda request: {"purchase_order_id": request.purchase_order_id, "source": "api"},
    key_filter="purchase_order_id",
    key_pattern=ID_PATTERN,
    key_description="Only this purchase order's commitment.",
)


def routes(runtime: Runtime) -> list[Router]:
    """The process API as one router bound to ``runtime``."""
    handlers = [*collection_routes(runtime, MATCHES), *collection_routes(runtime, COMMITMENTS)]
    return [Router(path=PREFIX, route_handlers=handlers)]
