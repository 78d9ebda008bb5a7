"""The rules of DESIGN.md §1 and §3 that code review alone would not keep."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from litestar.routes import HTTPRoute

from gateway.app import create_app
from gateway.settings import load_settings
from policies.build import build_chain
from policies.call import OPT_KEY
from policies.chain import POLICY_ORDER, ApiIdentity
from policies.config import PolicyConfig, ThreatConfig

ROOT = Path(__file__).resolve().parents[2]

# Routes anyone may call without a token: the token endpoint and discovery documents, health
# and metrics, and each API's OpenAPI document. Adding one is a decision; this list records it.
PUBLIC_ROUTES = {
    "POST /oauth/token",
    "GET /.well-known/jwks.json",
    "GET /.well-known/oauth-authorization-server",
    "GET /health/live",
    "GET /health/ready",
    "GET /metrics",
    "POST /events/{platform}",  # platforms authenticate with the Standard Webhooks signature
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    settings = load_settings(environ={}, data_dir=str(tmp_path_factory.mktemp("arch")))
    return create_app(settings)


def test_policy_order_is_the_design_order(gateway) -> None:  # type: ignore[no-untyped-def]
    assert POLICY_ORDER == (
        "correlation", "threat", "authentication", "authorization",
        "throttling", "idempotency", "validation", "audit",
    )
    chain = build_chain(ApiIdentity("x", 1, PolicyConfig(), ThreatConfig()), gateway.services)
    assert [p.name for p in chain.policies] == list(POLICY_ORDER)


def test_settings_choose_policies_but_not_their_order(gateway) -> None:  # type: ignore[no-untyped-def]
    config = PolicyConfig(enabled=("audit", "correlation", "throttling"))
    chain = build_chain(ApiIdentity("x", 1, config, ThreatConfig()), gateway.services)
    assert [p.name for p in chain.policies] == ["correlation", "throttling", "audit"]


def test_every_route_declares_scopes_or_is_listed_public(gateway) -> None:  # type: ignore[no-untyped-def]
    public, undeclared, documents = set(), [], set()
    for api in gateway.catalog:
        app = gateway.apis[api.key]
        for route in app.routes:
            if not isinstance(route, HTTPRoute) or not route.path.startswith(api.prefixes):
                continue  # Litestar's internal schema routes are not mounted
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    if method == "OPTIONS" and handler.handler_name == "options_handler":
                        continue  # Litestar's automatic OPTIONS answer: public by nature
                    key = f"{method} {route.path_format}"
                    declared = handler.opt.get(OPT_KEY)
                    if key == f"GET {api.document_path}":
                        documents.add(key)
                    elif declared is None or not (declared.get("public") or declared["scopes"]):
                        undeclared.append(key)
                    elif declared.get("public"):
                        public.add(key)
                    else:
                        unknown = set(declared["scopes"]) - set(api.scopes)
                        assert not unknown, f"{key} uses scopes {unknown} its catalog entry does not list"
    assert not undeclared, f"routes without a scope declaration: {undeclared}"
    assert public == PUBLIC_ROUTES
    assert len(documents) == len(gateway.catalog.apis)


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed; install with pip install -e '.[test]'"
    return found


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_dependencies_point_one_way() -> None:
    result = _run(_tool("lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = _run(_tool("ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run(_tool("mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_process_package_is_in_the_independence_contract() -> None:
    import tomllib

    from gateway.processes import discover

    config = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "independence"]
    assert set(contract["modules"]) == {f"process_apis.{spec.package}" for spec in discover()}
