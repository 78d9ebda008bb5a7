"""Validation policy: a request body must be in a media type the route can decode.

Decoding into msgspec Structs (unknown fields refused, field paths in the problem) happens in
the handler layer, where the Struct types are known; see :mod:`policies.problems`. What is
checked here is what that layer would otherwise let through: a body sent without a JSON
content type to a JSON route would be decoded anyway, hiding a broken client.
"""

from __future__ import annotations

from policies.call import Call
from policies.chain import Policy
from policies.problems import Problem

__all__ = ["Validation"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


class Validation(Policy):
    """Refuse request bodies whose content type the route does not accept (415)."""

    name = "validation"

    async def on_request(self, call: Call) -> None:
        """Check the declared media type of a request body."""
        if call.route.method not in _BODY_METHODS or not call.body:
            return
        raw = call.header(b"content-type")
        media_type = (raw or "").split(";", 1)[0].strip().lower()
        accepted = call.route.media_types
        if not media_type:
            raise Problem(415, f"the request has a body but no Content-Type; send {accepted[0]}",
                          kind="unsupported-media-type")
        if any(media_type == t or (t == "application/json" and _is_json(media_type)) for t in accepted):
            return
        raise Problem(
            415,
            f"Content-Type {media_type} is not accepted here; send {' or '.join(accepted)}",
            kind="unsupported-media-type",
        )

