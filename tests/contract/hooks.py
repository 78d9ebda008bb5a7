"""Schemathesis hooks: what a careful contract tester sets up, nothing that hides a defect."""

import uuid

import schemathesis


@schemathesis.hook
def map_headers(ctx, headers):  # type: ignore[no-untyped-def]
    """Give every generated request its own Idempotency-Key, as a real client does.

    Generated keys repeat ("0", "0", …) across different bodies; the server rightly answers
    422 for a reused key, which is tested on its own in the idempotency tests.
    """
    if headers and "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = f'"{uuid.uuid4().hex}"'
    return headers
