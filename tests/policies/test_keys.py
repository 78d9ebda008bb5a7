from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from joserfc import jws
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.keys import KeyStore
from policies.tables import signing_keys

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


async def started(engine: AsyncEngine, algorithm: str = "ES256", ttl: int = 300) -> KeyStore:
    store = KeyStore(engine, algorithm=algorithm, token_ttl_seconds=ttl)
    await store.start()
    return store


@pytest.mark.parametrize(("algorithm", "kty"), [("ES256", "EC"), ("RS256", "RSA")])
async def test_first_start_creates_a_key_that_later_starts_reuse(
    engine: AsyncEngine, algorithm: str, kty: str
) -> None:
    first = await started(engine, algorithm)
    published = first.jwks()["keys"]
    assert len(published) == 1
    assert published[0]["kty"] == kty
    assert published[0]["kid"] == first.active_kid

    again = await started(engine, algorithm)
    assert again.active_kid == first.active_kid
    assert again.jwks() == first.jwks()
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(signing_keys))).scalar_one() == 1


async def test_signed_token_verifies_with_the_published_key(engine: AsyncEngine) -> None:
    store = await started(engine)
    token = store.sign({"sub": "x"})
    header = jws.extract_compact(token.encode()).headers()
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": store.active_kid}

    other_process = await started(engine)
    key = await other_process.public_key(store.active_kid)
    assert key is not None
    assert json.loads(jws.deserialize_compact(token, key, algorithms=["ES256"]).payload) == {"sub": "x"}


async def test_jwks_holds_public_keys_only(engine: AsyncEngine) -> None:
    store = await started(engine, "RS256")
    await store.rotate()
    keys = store.jwks()["keys"]
    assert len(keys) == 2
    for key in keys:
        assert not PRIVATE_MEMBERS & set(key)
        assert key["use"] == "sig"
        assert key["alg"] == "RS256"
        assert key["kid"]


async def test_rotation_keeps_the_old_key_until_its_tokens_expire(engine: AsyncEngine) -> None:
    store = await started(engine, ttl=300)
    old_kid = store.active_kid
    old_token = store.sign({"sub": "before-rotation"})

    new_kid = await store.rotate()
    assert new_kid != old_kid
    assert store.active_kid == new_kid
    assert {k["kid"] for k in store.jwks()["keys"]} == {old_kid, new_kid}
    old_key = await store.public_key(old_kid)
    assert old_key is not None
    jws.deserialize_compact(old_token, old_key, algorithms=["ES256"])
    new_token = store.sign({"sub": "after-rotation"})
    assert jws.extract_compact(new_token.encode()).headers()["kid"] == new_kid

    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(signing_keys).where(signing_keys.c.kid == old_kid))).one()
    assert row.retired_at is not None
    assert row.expires_at - row.retired_at == timedelta(seconds=300 + 60)

    # Once the old key's tokens have all expired, it leaves the JWKS and verifies nothing.
    async with engine.begin() as conn:
        await conn.execute(
            signing_keys.update()
            .where(signing_keys.c.kid == old_kid)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await store.reload()
    assert [k["kid"] for k in store.jwks()["keys"]] == [new_kid]
    assert await store.public_key(old_kid) is None


async def test_a_rotation_in_another_process_is_seen_on_an_unknown_kid(engine: AsyncEngine) -> None:
    here = await started(engine)
    elsewhere = await started(engine)
    new_kid = await elsewhere.rotate()
    token = elsewhere.sign({"sub": "x"})

    await asyncio.sleep(1.05)  # reloads prompted by unknown kids are limited to one per second
    key = await here.public_key(new_kid)
    assert key is not None
    jws.deserialize_compact(token, key, algorithms=["ES256"])
    assert await here.public_key("no-such-kid") is None


async def test_signing_follows_a_rotation_made_elsewhere(engine: AsyncEngine) -> None:
    here = await started(engine)
    elsewhere = await started(engine)
    new_kid = await elsewhere.rotate()
    await here.refresh_if_stale(0)
    assert here.active_kid == new_kid


def test_symmetric_algorithms_are_refused(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="unsupported signing algorithm"):
        KeyStore(engine, algorithm="HS256", token_ttl_seconds=300)
