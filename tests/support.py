"""Helpers the tests share (fixtures live in conftest.py)."""

from dataclasses import dataclass

import httpx

from gateway.app import Gateway

__all__ = ["Operator", "register"]


@dataclass
class Operator:
    """A registered client holding every scope, with a fresh token."""

    client_id: str
    client_secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(gateway: Gateway, client: httpx.AsyncClient, scopes: list[str], tier: str = "gold") -> Operator:
    """Register a client directly in the registry and get a token over HTTP, as a user would."""
    record, secret = await gateway.services.clients.create("test operator", tuple(scopes), tier)
    answer = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(record.client_id, secret)
    )
    assert answer.status_code == 200, answer.text
    return Operator(record.client_id, secret, answer.json()["access_token"])
