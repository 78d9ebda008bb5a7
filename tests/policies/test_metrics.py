"""Prometheus metrics: what a scrape shows after a few governed calls."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from policies.call import Call, RoutePolicy
from policies.config import ThreatConfig
from policies.metrics import Metrics

CLIENT_ROUTE = RoutePolicy(
    api="admin",
    version=1,
    method="GET",
    template="/admin/v1/clients/{client_id}",
    operation="get_client",
    scopes=("admin:read",),
    public=False,
    effect=False,
    rates=(),
    threat=ThreatConfig(),
)
CREATE_ROUTE = RoutePolicy(
    api="admin",
    version=1,
    method="POST",
    template="/admin/v1/clients",
    operation="create_client",
    scopes=("admin:write",),
    public=False,
    effect=True,
    rates=(),
    threat=ThreatConfig(),
)


def make_call(route: RoutePolicy, path: str, status: int, **fields: Any) -> Call:
    scope: Any = {"type": "http", "method": route.method, "path": path, "headers": [], "state": {}}
    call = Call(scope=scope, route=route, **fields)
    call.status = status
    return call


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, _ = metrics.render()
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


def test_requests_are_counted_by_api_route_method_status_and_client() -> None:
    metrics = Metrics()
    metrics.observe(make_call(CLIENT_ROUTE, "/admin/v1/clients/c-1", 200, client_id="ops-app"))
    metrics.observe(make_call(CLIENT_ROUTE, "/admin/v1/clients/c-2", 200, client_id="ops-app"))
    metrics.observe(make_call(CLIENT_ROUTE, "/admin/v1/clients/c-3", 404, client_id="ops-app"))
    metrics.observe(make_call(CREATE_ROUTE, "/admin/v1/clients", 201, client_id="provisioner"))

    found = samples(metrics)
    route = "GET /admin/v1/clients/{client_id}"
    common = {"api": "admin", "route": route, "method": "GET", "client": "ops-app"}
    assert found[("finrail_requests_total", labels(**common, status="200"))] == 2
    assert found[("finrail_requests_total", labels(**common, status="404"))] == 1
    create = {"api": "admin", "route": "POST /admin/v1/clients", "method": "POST", "client": "provisioner"}
    assert found[("finrail_requests_total", labels(**create, status="201"))] == 1
    assert found[("finrail_request_duration_seconds_count", labels(api="admin", route=route))] == 3


def test_labels_use_the_route_template_never_the_raw_path() -> None:
    metrics = Metrics()
    for n in range(20):
        metrics.observe(make_call(CLIENT_ROUTE, f"/admin/v1/clients/secret-{n}", 200, client_id="a"))

    body, _ = metrics.render()
    assert b"secret-" not in body
    request_series = [key for key in samples(metrics) if key[0] == "finrail_requests_total"]
    assert len(request_series) == 1


def test_calls_without_a_client_are_labelled_anonymous_and_rejections_are_counted() -> None:
    metrics = Metrics()
    metrics.observe(make_call(CLIENT_ROUTE, "/admin/v1/clients/x", 401, rejected_by="authentication"))
    metrics.observe(make_call(CLIENT_ROUTE, "/admin/v1/clients/x", 401, rejected_by="authentication"))
    metrics.observe(
        make_call(CLIENT_ROUTE, "/admin/v1/clients/x", 429, client_id="greedy", throttled=True,
                  rejected_by="throttling")
    )

    found = samples(metrics)
    route = "GET /admin/v1/clients/{client_id}"
    anonymous = labels(api="admin", route=route, method="GET", status="401", client="anonymous")
    assert found[("finrail_requests_total", anonymous)] == 2
    assert found[("finrail_rejected_total", labels(api="admin", policy="authentication", status="401"))] == 2
    assert found[("finrail_rejected_total", labels(api="admin", policy="throttling", status="429"))] == 1
    assert found[("finrail_throttled_total", labels(api="admin", client="greedy"))] == 1
    assert ("finrail_throttled_total", labels(api="admin", client="anonymous")) not in found


def test_duration_lands_in_the_right_bucket() -> None:
    metrics = Metrics()
    slow = make_call(CREATE_ROUTE, "/admin/v1/clients", 201, client_id="a")
    slow.started = time.perf_counter() - 7.0
    metrics.observe(slow)
    quick = make_call(CREATE_ROUTE, "/admin/v1/clients", 201, client_id="a")
    quick.started = time.perf_counter() - 0.02
    metrics.observe(quick)

    found = samples(metrics)
    route = {"api": "admin", "route": "POST /admin/v1/clients"}
    bucket = "finrail_request_duration_seconds_bucket"
    assert found[(bucket, labels(**route, le="0.01"))] == 0
    assert found[(bucket, labels(**route, le="0.025"))] == 1
    assert found[(bucket, labels(**route, le="5.0"))] == 1
    assert found[(bucket, labels(**route, le="+Inf"))] == 2
    assert found[(bucket, labels(**route, le="0.0005"))] == 0
    assert 7.0 < found[("finrail_request_duration_seconds_sum", labels(**route))] < 8.0


def test_each_instance_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.observe(make_call(CREATE_ROUTE, "/admin/v1/clients", 201, client_id="a"))

    assert any(name == "finrail_requests_total" for name, _ in samples(first))
    assert not any(name == "finrail_requests_total" for name, _ in samples(second))


def test_audit_queue_depth_is_read_at_scrape_time() -> None:
    metrics = Metrics()
    queue = [1, 2, 3]
    metrics.watch_audit_queue(lambda: len(queue))
    assert samples(metrics)[("finrail_audit_queue_depth", frozenset())] == 3
    queue.clear()
    assert samples(metrics)[("finrail_audit_queue_depth", frozenset())] == 0


def test_render_is_prometheus_text_with_help_and_type() -> None:
    metrics = Metrics()
    metrics.observe(make_call(CREATE_ROUTE, "/admin/v1/clients", 201, client_id="a"))

    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert "# TYPE finrail_requests_total counter" in text
    assert "# TYPE finrail_request_duration_seconds histogram" in text
    families = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert families["finrail_requests"] == "counter"
    assert families["finrail_request_duration_seconds"] == "histogram"
    assert families["finrail_throttled"] == "counter"
    assert families["finrail_rejected"] == "counter"
