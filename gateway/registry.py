"""The catalog Finrail ships with: every API the gateway mounts, in one list."""

from __future__ import annotations

from typing import Any

from gateway.admin import ADMIN_SCOPES, admin_routes
from gateway.catalog import ApiDescriptor, BuildContext, Catalog
from gateway.identity import identity_handlers
from gateway.ops import ops_handlers
from gateway.platforms import PLATFORMS, PlatformSpec
from gateway.processes import ProcessSpec, discover

__all__ = ["default_catalog"]


def _identity_routes(context: BuildContext) -> list[Any]:
    return list(identity_handlers)


def _ops_routes(context: BuildContext) -> list[Any]:
    return list(ops_handlers)


def _system_api(spec: PlatformSpec) -> ApiDescriptor:
    api = spec.api_module()

    def routes(context: BuildContext) -> list[Any]:
        return list(api.routes(context.connectors[spec.name]))

    return ApiDescriptor(
        name=spec.name,
        tier="system",
        major=1,
        owner="finance-integration",
        summary=api.SUMMARY,
        prefixes=(api.PREFIX,),
        scopes=api.SCOPES,
        routes=routes,
    )


def _process_api(spec: ProcessSpec) -> ApiDescriptor:
    api = spec.api_module()

    def routes(context: BuildContext) -> list[Any]:
        return list(api.routes(context.runtime))

    return ApiDescriptor(
        name=api.NAME,
        tier="process",
        major=1,
        owner="finance-integration",
        summary=api.SUMMARY,
        prefixes=(api.PREFIX,),
        scopes=api.SCOPES,
        routes=routes,
        policies=getattr(api, "POLICIES", None),
    )


def default_catalog() -> Catalog:
    """The catalog of this release."""
    return Catalog(
        apis=(
            ApiDescriptor(
                name="identity",
                tier="gateway",
                major=1,
                owner="platform",
                summary="OAuth2 client-credentials tokens (RFC 9068 JWTs), JWKS, introspection and metadata.",
                prefixes=("/oauth", "/.well-known"),
                scopes={"identity:introspect": "Introspect access tokens (RFC 7662)."},
                routes=_identity_routes,
            ),
            ApiDescriptor(
                name="admin",
                tier="gateway",
                major=1,
                owner="platform",
                summary="Clients, the audit trail and the API catalog.",
                prefixes=("/admin/v1",),
                scopes=ADMIN_SCOPES,
                routes=admin_routes,
            ),
            ApiDescriptor(
                name="ops",
                tier="gateway",
                major=1,
                owner="platform",
                summary="Liveness, readiness and Prometheus metrics.",
                prefixes=("/health", "/metrics"),
                scopes={},
                routes=_ops_routes,
                # Probes and scrapes must never be throttled out of rotation, and auditing
                # them would bury the calls that matter.
                policies=("correlation", "threat"),
            ),
            *(_system_api(spec) for spec in PLATFORMS),
            *(_process_api(spec) for spec in discover()),
        )
    )
