"""Prometheus metrics of the governed calls: volume, latency, throttling and rejections.

Each :class:`Metrics` owns its registry instead of using ``prometheus_client``'s global one,
so several gateways (or tests) in one process never collide over metric names. The chain
runner calls :meth:`Metrics.observe` once per finished call; labels use the route template,
never the raw path, so the number of series stays bounded by the routes and clients that exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from policies.call import Call

__all__ = ["DURATION_BUCKETS", "METRICS_CONTENT_TYPE", "Metrics"]

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Content type of the Prometheus text exposition format every scraper understands."""

DURATION_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
"""Latency buckets in seconds: fine below 10 ms, where a gateway's own overhead lives."""

ANONYMOUS = "anonymous"
"""Client label of calls made without a (valid) token."""


class Metrics:
    """The gateway's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "finrail_requests_total",
            "Governed calls answered, by API, route template, method, status and client.",
            ("api", "route", "method", "status", "client"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "finrail_request_duration_seconds",
            "Time from entering the policy chain to the end of the answer.",
            ("api", "route"),
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.throttled = Counter(
            "finrail_throttled_total",
            "Calls refused by a rate limit (429), by API and client.",
            ("api", "client"),
            registry=self.registry,
        )
        self.rejected = Counter(
            "finrail_rejected_total",
            "Calls rejected by a policy before reaching the handler, by API, policy and status.",
            ("api", "policy", "status"),
            registry=self.registry,
        )
        self.audit_queue = Gauge(
            "finrail_audit_queue_depth",
            "Audit records of read calls waiting in memory to be written.",
            registry=self.registry,
        )
        # Labelled children, looked up once per label tuple: ``labels()`` validates and
        # hashes its arguments on every call, which is measurable on the hot path.
        self._requests: dict[tuple[str, str, str, int, str], Counter] = {}
        self._durations: dict[tuple[str, str], Histogram] = {}
        self._throttled: dict[tuple[str, str], Counter] = {}
        self._rejected: dict[tuple[str, str, int], Counter] = {}

    def observe(self, call: Call) -> None:
        """Count one finished call and record its duration.

        Args:
            call: The call, after every policy's ``on_finish`` hook has run.
        """
        elapsed = time.perf_counter() - call.started
        route = call.route
        client = call.client_id or ANONYMOUS
        status = call.status
        key = (route.api, route.key, route.method, status, client)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(
                route.api, route.key, route.method, str(status), client
            )
        counter.inc()
        route_key = (route.api, route.key)
        histogram = self._durations.get(route_key)
        if histogram is None:
            histogram = self._durations[route_key] = self.duration.labels(route.api, route.key)
        histogram.observe(elapsed)
        if call.throttled:
            throttle_key = (route.api, client)
            throttled = self._throttled.get(throttle_key)
            if throttled is None:
                throttled = self._throttled[throttle_key] = self.throttled.labels(route.api, client)
            throttled.inc()
        if call.rejected_by is not None:
            reject_key = (route.api, call.rejected_by, status)
            rejected = self._rejected.get(reject_key)
            if rejected is None:
                rejected = self._rejected[reject_key] = self.rejected.labels(
                    route.api, call.rejected_by, str(status)
                )
            rejected.inc()

    def watch_audit_queue(self, depth: Callable[[], float]) -> None:
        """Report the audit queue depth by asking ``depth`` at every scrape (costs nothing per call).

        Args:
            depth: Returns the number of audit records waiting to be written.
        """
        self.audit_queue.set_function(depth)

    def render(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text exposition format.

        Returns:
            The body and its content type.
        """
        return generate_latest(self.registry), METRICS_CONTENT_TYPE
