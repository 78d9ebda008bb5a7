"""Supplier onboarding process API (``/process/supplier-onboarding/v1``).

Starts the onboarding of a procurement supplier (the same thing the procurement platform's
``supplier.approved`` event does through ``/events/procurement``) and shows where each one
stands: running, completed with its ERP supplier number, or waiting in the finance exception
queue with a reason code (``invalid-tax-id``, ``invalid-bank-data``,
``suspected-duplicate``, ...). One onboarding exists per procurement supplier: starting it
again answers the existing one.
"""

# No `from __future__ import annotations`: Litestar must see the real parameter types.

from typing import Annotated

import msgspec
from litestar import Router

from process_apis.flow.runtime import Runtime
from process_apis.kit.collection import FlowCollection, collection_routes
from process_apis.supplier_onboarding.flows import FLOW, FLOW_NAME, SUPPLIER_ID_PATTERN

__all__ = ["NAME", "PREFIX", "SCOPES", "SUMMARY", "OnboardingRequest", "routes"]

NAME = FLOW_NAME
PREFIX = f"/process/{NAME}/v1"
SUMMARY = (
    "Onboard approved procurement suppliers into the ERP: tax id and bank data validated, "
    "duplicates caught, created once, ERP number written back."
)
SCOPES = {
    f"process:{NAME}:read": "Read supplier onboardings and their timelines.",
    f"process:{NAME}:write": "Start the onboarding of a procurement supplier.",
}


class OnboardingRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which procurement supplier to onboard."""

    supplier_id: Annotated[str, msgspec.Meta(pattern=SUPPLIER_ID_PATTERN, description="Procurement supplier id.")]
    """The supplier's id in the procurement platform; its data is read from there, not given here."""


ONBOARDINGS = FlowCollection(
    api=NAME,
    prefix=PREFIX,
    path="/onboardings",
    flow=FLOW,
    noun="supplier onboarding",
    operation="onboarding",
    request=OnboardingRequest,
    key=lambda request: request.supplier_id,
    input=lambda request: {"supplier_id": request.supplier_id, "source": "api"},
    key_filter="supplier_id",
    key_pattern=SUPPLIER_ID_PATTERN,
    key_description="Only this procurement supplier's onboarding.",
)


def routes(runtime: Runtime) -> list[Router]:
    """The process API as one router bound to ``runtime``."""
    return [Router(path=PREFIX, route_handlers=collection_routes(runtime, ONBOARDINGS))]
