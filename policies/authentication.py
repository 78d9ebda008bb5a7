"""The authentication and authorization policies: who is calling, and may they call this route.

Authentication reads the RFC 6750 bearer token and fills the call with the token's client,
subject, scopes and tier; authorization compares the scopes with what the route declares.
Both answer in the RFC 6750 §3 way: 401 or 403 with a ``WWW-Authenticate: Bearer`` challenge,
and a problem body that explains the refusal without ever repeating the token.
"""

from __future__ import annotations

from policies.call import Call
from policies.chain import Policy
from policies.problems import Problem
from policies.tokens import AuthenticationFailed, TokenService

__all__ = ["REALM", "Authentication", "Authorization", "bearer_challenge"]

REALM = "finrail"


def _quoted(value: str) -> str:
    # RFC 6750 §3: error_description and scope values exclude '"' and '\'; keep printable ASCII.
    return "".join(ch for ch in value if " " <= ch <= "~" and ch not in '"\\')


def bearer_challenge(
    error: str | None = None, description: str | None = None, scope: str | None = None
) -> str:
    """A ``WWW-Authenticate`` value for the Bearer scheme (RFC 6750 §3)."""
    parts = [f'Bearer realm="{REALM}"']
    if error:
        parts.append(f'error="{_quoted(error)}"')
    if description:
        parts.append(f'error_description="{_quoted(description)}"')
    if scope:
        parts.append(f'scope="{_quoted(scope)}"')
    return ", ".join(parts)


class Authentication(Policy):
    """Require a valid bearer access token on every route that is not public."""

    name = "authentication"

    def __init__(self, tokens: TokenService) -> None:
        self.tokens = tokens

    async def on_request(self, call: Call) -> None:
        """Verify the bearer token and record who is calling."""
        if call.route.public:
            return
        authorization = call.header(b"authorization")
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            detail = (
                "this API needs an OAuth2 bearer token: send 'Authorization: Bearer <token>'"
                " with a token from /oauth/token"
            )
            challenge = {"WWW-Authenticate": bearer_challenge()}
            raise Problem(401, detail, kind="unauthenticated", headers=challenge)
        try:
            principal = await self.tokens.verify(token.strip())
        except AuthenticationFailed as exc:
            raise Problem(
                401,
                f"the bearer token was refused: {exc.detail}",
                kind="invalid-token",
                headers={"WWW-Authenticate": bearer_challenge("invalid_token", exc.detail)},
            ) from None
        call.client_id = principal.client_id
        call.subject = principal.subject
        call.scopes = principal.scopes
        call.tier = principal.tier


class Authorization(Policy):
    """Require every scope the route declares."""

    name = "authorization"

    async def on_request(self, call: Call) -> None:
        """Refuse the call with 403 when the token lacks one of the route's scopes."""
        route = call.route
        if route.public:
            return
        missing = [scope for scope in route.scopes if scope not in call.scopes]
        if missing:
            required = " ".join(route.scopes)
            raise Problem(
                403,
                f"the token lacks the scope(s) this operation requires: {' '.join(missing)}",
                kind="insufficient-scope",
                headers={
                    "WWW-Authenticate": bearer_challenge(
                        "insufficient_scope", "the token lacks a required scope", required
                    )
                },
            )
