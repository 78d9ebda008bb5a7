"""Governed OpenAPI documents: what Litestar generates, plus what the policy chain does.

Litestar documents handlers; it cannot know that the chain answers 401, 403, 429 or 413 on
every route, that an effect route needs ``Idempotency-Key``, or which OAuth2 scopes a route
declares. :func:`govern_document` adds all of that from the same route declarations the chain
enforces, so contract tests and the server agree. Export and drift check live here too.
"""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar
from litestar.routes import HTTPRoute

from gateway.catalog import ApiDescriptor, Catalog
from policies.call import OPT_KEY

__all__ = ["check_documents", "export_documents", "govern_document", "render_document"]

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "correlation_id": {"type": "string"},
        "invalid_params": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "reason"],
                "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": (
        "Unique key of this operation (draft-ietf-httpapi-idempotency-key-header), quoted or bare. "
        "Retrying with the same key and body replays the first answer with `Idempotent-Replayed: true`."
    ),
    # Exactly what policies.idempotency.parse_key accepts: a bare visible-ASCII token not
    # starting with a quote, or an RFC 8941 string (escapes \" and \\), 1 to 255 characters.
    "schema": {
        "type": "string",
        "pattern": (
            '^(?:[\\x21\\x23-\\x7e][\\x21-\\x7e]{0,254}'
            '|"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\x22\\x5c]){1,255}")$'
        ),
    },
}
_BODY_METHODS = {"post", "put", "patch"}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": _PROBLEM}},
    }
    if headers:
        response["headers"] = headers
    return response


def _declarations(app: Litestar) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            declared = handler.opt.get(OPT_KEY)
            if declared is None:
                continue
            for method in handler.http_methods:
                found[(route.path_format, method.lower())] = declared
    return found


def _close(schema: Any, components: dict[str, Any], seen: set[str]) -> None:
    """Mark request body objects closed: the server refuses unknown fields."""
    if isinstance(schema, list):
        for item in schema:
            _close(item, components, seen)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name not in seen and name in components:
            seen.add(name)
            _close(components[name], components, seen)
        return
    if schema.get("type") == "object" and "properties" in schema:
        schema.setdefault("additionalProperties", False)
    for value in schema.values():
        if isinstance(value, dict | list):
            _close(value, components, seen)


def govern_document(app: Litestar, api: ApiDescriptor) -> dict[str, Any]:
    """The OpenAPI document of ``app`` with the chain's behaviour made explicit.

    Args:
        app: The API's Litestar app (its handlers carry the route declarations).
        api: The catalog entry of the API.

    Returns:
        The document as plain JSON-able data.
    """
    document: dict[str, Any] = msgspec.to_builtins(copy.deepcopy(app.openapi_schema.to_schema()))
    document["info"]["x-finrail"] = {"name": api.name, "tier": api.tier, "owner": api.owner, "status": api.status}
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = _PROBLEM_SCHEMA
    components["securitySchemes"] = {
        "oauth2": {
            "type": "oauth2",
            "description": "Client credentials (RFC 6749 §4.4); tokens are RFC 9068 JWTs.",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": dict(api.scopes)}},
        }
    }
    declarations = _declarations(app)
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            declared = declarations.get((path, method))
            if declared is None or not isinstance(operation, dict):
                continue
            _govern_operation(operation, method, declared, schemas)
    return document


def _is_litestar_default(response: Any) -> bool:
    """Litestar's generic 400 (its ValidationException body), which the chain never sends."""
    if response is None:
        return True
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("description") == "Validation Exception")


def _govern_operation(
    operation: dict[str, Any], method: str, declared: dict[str, Any], schemas: dict[str, Any]
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if _is_litestar_default(responses.get("400")):
        responses["400"] = _problem("The request is malformed or fails validation; `invalid_params` names each field.")
    responses["429"] = _problem("A rate limit is exhausted.", _RETRY_AFTER)
    responses.setdefault("404", _problem("No such resource."))
    if declared.get("public"):
        operation["security"] = []
    else:
        operation["security"] = [{"oauth2": list(declared["scopes"])}]
        responses["401"] = _problem(
            "The bearer token is missing, invalid or expired.",
            {"WWW-Authenticate": {"description": "Bearer challenge.", "schema": {"type": "string"}}},
        )
        responses["403"] = _problem("The token lacks a required scope.")
    if method in _BODY_METHODS:
        responses["413"] = _problem("The request body is too large.")
        responses["415"] = _problem("The request body has an unsupported media type.")
        if _is_litestar_default(responses.get("422")):
            responses["422"] = _problem(
                "The body is well-formed but breaks a rule its schema cannot express (check digits, "
                "balances, decimals of a currency); `invalid_params` names the field."
            )
        # JSON bodies are decoded into Structs that refuse unknown fields; form bodies (OAuth)
        # may carry extension parameters, which RFC 6749 §3.2 says to ignore.
        json_body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if json_body:
            _close(json_body.get("schema"), schemas, set())
    if declared.get("effect"):
        parameters = operation.setdefault("parameters", [])
        parameters.insert(0, dict(_IDEMPOTENCY_KEY))
        in_flight = "A request with this Idempotency-Key is still in flight."
        declared_409 = responses.get("409")
        if declared_409 is None:
            responses["409"] = _problem(in_flight, _RETRY_AFTER)
        else:
            declared_409["description"] = f"{declared_409.get('description', '')} Or: {in_flight}".strip()
            declared_409.setdefault("headers", {}).update(_RETRY_AFTER)
        reused = "This Idempotency-Key was already used with a different request."
        declared_422 = responses.get("422")
        if declared_422 is None or _is_litestar_default(declared_422):
            responses["422"] = _problem(reused)
        else:
            declared_422["description"] = f"{declared_422.get('description', '')} Or: {reused}".strip()


def render_document(document: dict[str, Any]) -> str:
    """The canonical text of a committed document (stable key order, trailing newline)."""
    plain = msgspec.to_builtins(document)
    return json.dumps(plain, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_documents(apps: dict[str, Litestar], catalog: Catalog, root: Path) -> list[Path]:
    """Write every API's document under ``root`` (``openapi/<tier>/<name>.v<major>.json``)."""
    written = []
    for api in catalog:
        target = root / api.export_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_document(govern_document(apps[api.key], api)), encoding="utf-8")
        written.append(target)
    return written


def check_documents(apps: dict[str, Litestar], catalog: Catalog, root: Path) -> list[str]:
    """Differences between the code and the committed documents (empty when they agree)."""
    problems = []
    for api in catalog:
        target = root / api.export_path
        expected = render_document(govern_document(apps[api.key], api))
        if not target.exists():
            problems.append(f"{api.export_path}: missing (run `finrail openapi export`)")
        elif (committed := target.read_text(encoding="utf-8")) != expected:
            diff = difflib.unified_diff(
                committed.splitlines(), expected.splitlines(), "committed", "code", n=1, lineterm=""
            )
            excerpt = "\n".join(list(diff)[2:14])
            problems.append(f"{api.export_path}: differs from the code (run `finrail openapi export`)\n{excerpt}")
    return problems
