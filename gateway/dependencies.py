"""Names under which the gateway injects its shared objects into route handlers.

Litestar injects dependencies by parameter name; marking the parameters explicitly keeps that
working in Litestar 3 and tells a reader where the value comes from.
"""

from __future__ import annotations

from litestar.di import NamedDependency

from gateway.catalog import Catalog
from gateway.settings import Settings
from policies.services import PolicyServices

__all__ = ["CatalogDependency", "Services", "SettingsDependency"]

Services = NamedDependency[PolicyServices]
"""The process's policy services (parameter name ``services``)."""
SettingsDependency = NamedDependency[Settings]
"""The gateway settings (parameter name ``settings``)."""
CatalogDependency = NamedDependency[Catalog]
"""The API catalog (parameter name ``catalog``)."""
