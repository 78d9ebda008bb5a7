"""The one function that builds the policy chain of an API, in the order of DESIGN.md §3."""

from __future__ import annotations

from collections.abc import Callable

from policies.audit import Audit
from policies.authentication import Authentication, Authorization
from policies.chain import POLICY_ORDER, ApiIdentity, Policy, PolicyMiddleware
from policies.correlation import Correlation
from policies.idempotency import Idempotency
from policies.services import PolicyServices
from policies.threat import Threat
from policies.throttling import Throttling
from policies.validation import Validation

__all__ = ["build_chain"]


def build_chain(api: ApiIdentity, services: PolicyServices) -> PolicyMiddleware:
    """The policy middleware of one API.

    Every policy runs unless the API's settings list the ones to run (``enabled``); the order
    is always :data:`~policies.chain.POLICY_ORDER`, whatever order the settings name them in.

    Args:
        api: The API and its policy settings.
        services: The process's shared policy services.

    Returns:
        The middleware to install on the API's Litestar app.
    """
    factories: dict[str, Callable[[], Policy]] = {
        "correlation": Correlation,
        "threat": Threat,
        "authentication": lambda: Authentication(services.tokens),
        "authorization": Authorization,
        "throttling": lambda: Throttling(services.throttle),
        "idempotency": lambda: Idempotency(services.idempotency),
        "validation": Validation,
        "audit": lambda: Audit(services.audit),
    }
    enabled = api.config.enabled
    names = [name for name in POLICY_ORDER if enabled is None or name in enabled]
    return PolicyMiddleware(api, [factories[name]() for name in names], observe=services.metrics.observe)
