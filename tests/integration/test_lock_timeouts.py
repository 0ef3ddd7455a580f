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


async def test_a_bed_locked_for_a_change_never_blocks_a_bookings_foreign_key(coop, region):
    """PATCH /beds locks the bed (and its home) while a booking's INSERT checks its foreign
    keys with KEY SHARE: the two must not wait on each other (they once deadlocked)."""
    from coop.auth.principal import Principal
    from coop.db.schema import beds
    from coop.market.service import _owned_bed

    owner = await region.authority("cambs")
    home = await region.home(owner)
    bed = home["beds"][0]["id"]
    principal = Principal(
        client_id=owner.client_id,
        region=region.slug,
        authority=owner.authority,
        scopes=frozenset({"homes:write"}),
    )
    async with coop.engine.connect() as changing:
        await changing.execute(sa.text("BEGIN"))
        await _owned_bed(changing, bed, principal, lock=True)
        async with coop.engine.begin() as booking:
            await booking.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
            await booking.execute(  # what the foreign-key check of an INSERT does
                sa.select(beds.c.id)
                .where(beds.c.id == bed)
                .with_for_update(read=True, key_share=True)
            )
        await changing.execute(sa.text("ROLLBACK"))


async def test_a_home_locked_by_another_decision_is_503_busy_and_changes_nothing(coop, region):
    """The home lock (coop.db.locks) waited on past the timeout is the same clean answer as
    any other lock: 503 busy with Retry-After, the transaction rolled back."""
    from coop.bookings.allocation import lock_bed
    from coop.db.schema import homes

    owner = await region.authority("cambs")
    home = await region.home(owner)
    bed = home["beds"][0]["id"]
    async with coop.engine.connect() as deciding:
        await deciding.execute(sa.text("BEGIN"))
        await deciding.execute(
            sa.select(homes.c.id).where(homes.c.id == home["id"]).with_for_update()
        )
        with pytest.raises(Problem) as refused:
            async with transaction(coop.engine) as conn:
                await conn.execute(sa.text("SET LOCAL lock_timeout = '100ms'"))
                await lock_bed(conn, bed, coop.clock.now())
        await deciding.execute(sa.text("ROLLBACK"))
    assert (refused.value.status, refused.value.code) == (503, "busy")
    assert refused.value.headers["Retry-After"] == "1"
