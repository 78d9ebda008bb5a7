"""The API catalog: one registry of API descriptors that drives mounting, docs and export.

Each API of every tier is described once here; the gateway mounts what the catalog lists,
the admin API and the developer portal show it, and ``finrail openapi export`` writes the
document of each entry to ``openapi/<tier>/<name>.v<major>.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgspec

if TYPE_CHECKING:
    from gateway.settings import Settings

__all__ = ["ApiDescriptor", "BuildContext", "Catalog", "CatalogEntry", "Status", "Tier"]

Tier = Literal["gateway", "system", "process", "experience"]
Status = Literal["active", "deprecated", "retired"]


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What an API's route factory may use to build its handlers."""

    settings: Settings
    catalog: Catalog
    connectors: Mapping[str, Any] = field(default_factory=dict)
    """Connector of each platform, by name, for the system APIs' route factories."""
    runtime: Any = None
    """The process tier's :class:`~process_apis.flow.runtime.Runtime`, for the process APIs."""


@dataclass(frozen=True, slots=True)
class ApiDescriptor:
    """One API: who owns it, where it is mounted and how its handlers are built."""

    name: str
    """Catalog name, also the key of its ``[apis.<name>]`` settings table."""
    tier: Tier
    """Tier of DESIGN.md §1 (``gateway`` for identity, admin and operations)."""
    major: int
    """Major version; a breaking change is a new descriptor with the next major."""
    owner: str
    """Team answerable for the API."""
    summary: str
    """One line for the catalog and the portal."""
    prefixes: tuple[str, ...]
    """Path prefixes the gateway mounts the API under; the first serves ``openapi.json``."""
    scopes: Mapping[str, str]
    """Scopes the API's routes use, with what each one allows."""
    routes: Callable[[BuildContext], Sequence[Any]] = field(repr=False)
    """Builds the API's Litestar route handlers."""
    status: Status = "active"
    """Lifecycle status shown in the catalog."""
    policies: tuple[str, ...] | None = None
    """Policies this API runs by default (all when None); ``[apis.<name>] enabled`` overrides it."""

    @property
    def key(self) -> str:
        """``<name>.v<major>``: unique across the catalog."""
        return f"{self.name}.v{self.major}"

    @property
    def document_path(self) -> str:
        """Where the API serves its OpenAPI document."""
        return f"{self.prefixes[0]}/openapi.json"

    @property
    def export_path(self) -> str:
        """Where ``finrail openapi export`` writes the document, relative to the repository."""
        return f"openapi/{self.tier}/{self.name}.v{self.major}.json"


class CatalogEntry(msgspec.Struct, frozen=True):
    """An API as the admin API and the portal show it."""

    name: str
    """Catalog name."""
    tier: Tier
    """Tier."""
    version: int
    """Major version."""
    owner: str
    """Owning team."""
    summary: str
    """One-line summary."""
    status: Status
    """Lifecycle status."""
    prefix: str
    """Base path."""
    document: str
    """Path of the OpenAPI document."""
    scopes: dict[str, str]
    """Scopes with their meaning."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """The registry: an ordered, name-unique set of descriptors."""

    apis: tuple[ApiDescriptor, ...]

    def __post_init__(self) -> None:
        seen: set[tuple[str, int]] = set()
        for api in self.apis:
            if (api.name, api.major) in seen:
                raise ValueError(f"API {api.name} v{api.major} is registered twice")
            seen.add((api.name, api.major))

    def __iter__(self) -> Iterator[ApiDescriptor]:
        return iter(self.apis)

    def get(self, name: str) -> ApiDescriptor:
        """The newest major version of the API called ``name``."""
        matches = [api for api in self.apis if api.name == name]
        if not matches:
            raise KeyError(name)
        return max(matches, key=lambda api: api.major)

    @property
    def scopes(self) -> dict[str, str]:
        """Every scope any API uses, with its meaning."""
        return {scope: text for api in self.apis for scope, text in api.scopes.items()}

    def entries(self) -> list[CatalogEntry]:
        """The catalog as shown to people."""
        return [
            CatalogEntry(
                name=api.name,
                tier=api.tier,
                version=api.major,
                owner=api.owner,
                summary=api.summary,
                status=api.status,
                prefix=api.prefixes[0],
                document=api.document_path,
                scopes=dict(api.scopes),
            )
            for api in self.apis
        ]
