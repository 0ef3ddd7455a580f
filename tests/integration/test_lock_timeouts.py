"""A lock waited on too long is a clean answer (503 busy / 409 key in use), never a 500."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from coop.db.schema import authorities
from coop.db.session import transaction
from coop.errors import Problem
from coop.idempotency import IdempotencyKey, claim


async def test_a_row_lock_waited_on_too_long_is_503_busy(coop, region):
    slug = (await region.authority("cambs")).authority
    async with coop.engine.connect() as holder:
        await holder.execute(sa.text("BEGIN"))
        await holder.execute(
            sa.select(authorities).where(authorities.c.slug == slug).with_for_update()
        )
        with pytest.raises(Problem) as refused:
            async with transaction(coop.engine) as conn:
                await conn.execute(sa.text("SET LOCAL lock_timeout = '100ms'"))
                await conn.execute(
                    sa.select(authorities).where(authorities.c.slug == slug).with_for_update()
                )
        await holder.execute(sa.text("ROLLBACK"))
    assert (refused.value.status, refused.value.code) == (503, "busy")
    assert refused.value.headers["Retry-After"] == "1"


async def test_a_key_still_in_use_by_another_request_is_409(coop):
    key = IdempotencyKey(scope="someone", key="k-1", request_hash="h")
    async with coop.engine.connect() as first:
        await first.execute(sa.text("BEGIN"))
        await claim(first, key)  # the first request holds the key until it commits
        with pytest.raises(Problem) as refused:
            async with transaction(coop.engine) as conn:
                await conn.execute(sa.text("SET LOCAL lock_timeout = '100ms'"))
                await claim(conn, key)
        await first.execute(sa.text("ROLLBACK"))
    assert (refused.value.status, refused.value.code) == (409, "idempotency_key_in_use")
