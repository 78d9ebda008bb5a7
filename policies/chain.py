"""The policy chain: one ASGI middleware that runs every policy, in the order of DESIGN.md §3.

A policy is an object with three hooks:

* ``on_request(call)`` — runs in chain order before the handler; raise
  :class:`~policies.problems.Problem` to reject the call (later policies and the handler
  are skipped). Setting ``call.replay`` answers with a stored response instead.
* ``on_response(call)`` — runs in reverse order when the handler's response is complete
  but before its last byte is sent (status, headers and, when ``call.capture`` is set, the
  body are known), so what must be durable before the client hears "done" is written here.
* ``on_finish(call)`` — runs in reverse order after everything, rejections included; for
  audit and metrics.

Running all of them in one middleware keeps one ASGI layer on the hot path, and lets the
audit policy record calls that an earlier policy rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPReceiveMessage, HTTPScope, Message, Receive, Scope, Send

from policies.call import CALL_STATE_KEY, OPT_KEY, Call, RoutePolicy
from policies.config import PolicyConfig, ThreatConfig
from policies.problems import PROBLEM_JSON, Problem

__all__ = ["POLICY_ORDER", "ApiIdentity", "Policy", "PolicyMiddleware", "resolve_route"]

logger = logging.getLogger("finrail.policies")

POLICY_ORDER = (
    "correlation",
    "threat",
    "authentication",
    "authorization",
    "throttling",
    "idempotency",
    "validation",
    "audit",
)
"""The order of DESIGN.md §3; :func:`policies.build.build_chain` follows it and a test pins it."""


class Policy:
    """Base class of a policy: every hook does nothing unless overridden."""

    name: str = "policy"

    async def on_request(self, call: Call) -> None:
        """Inspect or reject the call before the handler runs."""

    async def on_response(self, call: Call) -> None:
        """Act on the complete response before its last byte is sent."""

    async def on_finish(self, call: Call) -> None:
        """Act after the call is over, whatever its outcome."""


@dataclass(frozen=True, slots=True)
class ApiIdentity:
    """Which API a chain governs, and its policy settings."""

    name: str
    """Catalog name."""
    version: int
    """Major version."""
    config: PolicyConfig
    """Per-API overrides from the settings."""
    threat: ThreatConfig
    """Gateway-wide threat limits (the API's own override wins)."""


def resolve_route(api: ApiIdentity, handler: Any, method: str, template: str) -> RoutePolicy:
    """Merge a handler's declaration with the settings into its :class:`RoutePolicy`.

    Raises:
        LookupError: The handler declares neither scopes nor that it is public.
    """
    declared = handler.opt.get(OPT_KEY)
    if declared is None and method == "OPTIONS":
        # Litestar answers OPTIONS itself with the allowed methods; nothing to protect.
        declared = {"scopes": (), "public": True, "operation": "options"}
    if declared is None:
        raise LookupError(f"route {method} {template} declares no scopes (use governed() or public())")
    key = f"{method} {template}"
    override = api.config.routes.get(key)
    threat = api.config.threat or api.threat
    if override and override.max_body_bytes is not None:
        threat = ThreatConfig(
            max_body_bytes=override.max_body_bytes,
            max_json_depth=threat.max_json_depth,
            max_array_length=threat.max_array_length,
            max_header_bytes=threat.max_header_bytes,
        )
    rates = tuple(r for r in (api.config.rate, override.rate if override else None) if r)
    scopes = override.scopes if override and override.scopes is not None else declared["scopes"]
    return RoutePolicy(
        api=api.name,
        version=api.version,
        method=method,
        template=template,
        operation=declared.get("operation") or handler.handler_name,
        scopes=tuple(scopes),
        public=bool(declared.get("public")),
        effect=bool(declared.get("effect")),
        rates=rates,
        threat=threat,
        media_types=_media_types(handler),
    )


def _media_types(handler: Any) -> tuple[str, ...]:
    data = handler.parsed_fn_signature.parameters.get("data")
    media_type = getattr(getattr(data, "kwarg_definition", None), "media_type", None)
    return (str(media_type.value if hasattr(media_type, "value") else media_type),) if media_type else (
        "application/json",
    )


class PolicyMiddleware(ASGIMiddleware):
    """Runs the policies of one API around each of its route handlers."""

    scopes = (ScopeType.HTTP,)

    def __init__(
        self,
        api: ApiIdentity,
        policies: Sequence[Policy],
        observe: Callable[[Call], None] | None = None,
    ) -> None:
        self.api = api
        self.observe = observe
        self.policies = tuple(policies)
        self.reversed = tuple(reversed(self.policies))
        self._routes: dict[tuple[str, str], RoutePolicy] = {}
        self._allow: dict[str, str] = {}

    def route_for(self, scope: Scope) -> RoutePolicy:
        """The resolved policy of the route handling ``scope`` (resolved once, then cached)."""
        key = (cast("HTTPScope", scope)["method"], scope["path_template"])
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = resolve_route(self.api, scope["route_handler"], *key)
        return route

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Run the chain for one HTTP request."""
        call = Call(scope=scope, route=self.route_for(scope), receive=receive)
        scope.setdefault("state", {})[CALL_STATE_KEY] = call
        sent_final = False

        async def send_governed(message: Message) -> None:
            nonlocal sent_final
            if message["type"] == "http.response.start":
                call.status = message["status"]
                headers = list(message.get("headers", ()))
                if call.capture:
                    call.captured_headers = headers
                message = {**message, "headers": headers + call.response_headers}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                if call.capture:
                    call.captured_body.append(message.get("body", b""))
                for policy in self.reversed:
                    await policy.on_response(call)
                sent_final = True
            elif call.capture and message["type"] == "http.response.body":
                call.captured_body.append(message.get("body", b""))
            await send(message)

        try:
            try:
                for policy in self.policies:
                    await policy.on_request(call)
            except Problem as problem:
                call.rejected_by = policy.name
                await self._send_problem(call, problem, send)
                return
            if call.route.method == "OPTIONS" and call.route.operation == "options":
                await self._send_options(call, send)
                return
            if call.replay is not None:
                await self._send_replay(call, send)
                return
            await next_app(scope, self._receive(call, receive), send_governed)
        except Exception:
            # Litestar turns handler errors into responses; reaching here means a policy's own
            # response hook failed. Answer 500 if nothing was sent yet, never a traceback.
            logger.exception("policy chain failed on %s %s", call.route.method, scope["path"])
            if call.status == 0:
                await self._send_problem(call, Problem(500, "the gateway failed to process the call"), send)
            elif not sent_final:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            for policy in self.reversed:
                try:
                    await policy.on_finish(call)
                except Exception:
                    logger.exception("policy %s failed to finish a call", policy.name)
            if self.observe is not None:
                self.observe(call)

    @staticmethod
    def _receive(call: Call, receive: Receive) -> Receive:
        if call.body is None:
            return receive
        body = call.body
        delivered = False

        async def replay_body() -> HTTPReceiveMessage:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return cast("HTTPReceiveMessage", await receive())

        return replay_body

    async def _send_problem(self, call: Call, problem: Problem, send: Send) -> None:
        call.status = problem.status
        call.outcome_detail = problem.detail
        body = problem.encode(call.scope["path"], call.correlation_id or None)
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in problem.headers.items()),
            *call.response_headers,
        ]
        await send({"type": "http.response.start", "status": problem.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _send_options(self, call: Call, send: Send) -> None:
        # Litestar's automatic OPTIONS answer lists only the methods of the first handler
        # registered for a path; the app's method map knows them all.
        if not self._allow:
            for route in call.scope["litestar_app"].routes:
                methods = getattr(route, "methods", ())
                self._allow[route.path_format] = ", ".join(sorted({*methods, "OPTIONS"}))
        allow = self._allow.get(call.route.template, "OPTIONS")
        call.status = 204
        await send({"type": "http.response.start", "status": 204,
                    "headers": [(b"allow", allow.encode()), *call.response_headers]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_replay(self, call: Call, send: Send) -> None:
        status, headers, body = call.replay
        call.status = status
        await send(
            {"type": "http.response.start", "status": status, "headers": [*headers, *call.response_headers]}
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})
