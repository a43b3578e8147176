"""Invoice numbers are sequential and gapless per seller: postings that roll back give their
number back, concurrent postings (PostgreSQL) queue on the seller's counter and never share or
skip a number."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from billing.lifecycle import InvoiceLifecycle
from billing.models import InvoiceStatus
from db.database import Database
from db.scope import TenantScope
from tests.billing.conftest import Shop
from tests.billing.drafts import (
    SYSTEM,
    counter,
    load,
    prefix_of,
    retail_drafts,
    sequence_of,
)
from tests.factories import World


class Boom(Exception):
    """Something after the posting, in the same transaction, failed."""


async def post(
    db: Database,
    lifecycle: InvoiceLifecycle,
    scope: TenantScope,
    invoice_id: uuid.UUID,
    fail: bool,
) -> str:
    """Post one draft in its own transaction; with ``fail``, the transaction then rolls back."""
    async with db.write(scope) as session:
        invoice = await lifecycle.update_status(
            session, scope, SYSTEM, invoice_id, InvoiceStatus.OPEN
        )
        assert invoice.number is not None
        if fail:
            # let other postings queue on the counter before this one gives its number back
            await asyncio.sleep(0.01)
            raise Boom(invoice.number)
        return invoice.number


async def committed_numbers(db: Database, ids: list[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    found: dict[uuid.UUID, str | None] = {}
    for invoice_id in ids:
        invoice = await load(db, invoice_id)
        assert invoice is not None
        found[invoice_id] = invoice.number
    return found


async def assert_gapless(
    db: Database, world: World, ids: list[uuid.UUID], posted: set[uuid.UUID]
) -> None:
    """The posted drafts hold exactly 1..len(posted), once each; the others are untouched."""
    prefix = await prefix_of(db, world.a.id)
    numbers = await committed_numbers(db, ids)
    taken = [numbers[i] for i in posted]
    assert all(n is not None and n.startswith(f"{prefix}-") for n in taken)
    assert sorted(sequence_of(n) for n in taken if n is not None) == list(range(1, len(posted) + 1))
    for invoice_id in set(ids) - posted:
        invoice = await load(db, invoice_id)
        assert invoice is not None
        assert (invoice.status, invoice.number, invoice.issued_at) == (
            InvoiceStatus.DRAFT,
            None,
            None,
        )
    assert await counter(db, world.a.id) == (len(posted) or None)


@pytest.mark.postgresql
async def test_concurrent_postings_with_rollbacks_leave_no_gap_and_no_duplicate(
    backend: str, db: Database, world: World, shop: Shop, lifecycle: InvoiceLifecycle
):
    if backend == "sqlite":
        pytest.skip("concurrent writers: PostgreSQL only (SQLite serializes them)")
    # given: 30 drafts of A, a third of whose postings will roll back
    ids = await retail_drafts(
        db,
        world.a.id,
        world.a.customers,
        [shop.products["m365"], shop.products["support"]],
        periods=5,
    )
    assert len(ids) == 30
    failing = set(ids[::3])
    scope = TenantScope.tenant(world.a.id)

    # when: all posted at once
    outcomes = await asyncio.gather(
        *(post(db, lifecycle, scope, i, i in failing) for i in ids), return_exceptions=True
    )

    # then
    assert all(isinstance(o, Boom) for o, i in zip(outcomes, ids, strict=True) if i in failing)
    returned = [o for o, i in zip(outcomes, ids, strict=True) if i not in failing]
    assert all(isinstance(o, str) for o in returned), returned
    assert len(set(returned)) == len(returned) == 20
    await assert_gapless(db, world, ids, set(ids) - failing)
    # every number a rolled-back posting held went to a later posting (or is the next one)
    given_back = {sequence_of(str(o)) for o in outcomes if isinstance(o, Boom)}
    assert given_back <= set(range(1, 22))

    # when: the rolled-back drafts are posted again, concurrently
    again = await asyncio.gather(*(post(db, lifecycle, scope, i, False) for i in failing))

    # then: they continue the sequence
    assert sorted(sequence_of(n) for n in again) == list(range(21, 31))
    await assert_gapless(db, world, ids, set(ids))


async def test_sequential_postings_with_rollbacks_and_discards_leave_no_gap(
    db: Database, world: World, shop: Shop, lifecycle: InvoiceLifecycle
):
    # given: 12 drafts of A; every third posting rolls back
    ids = await retail_drafts(
        db,
        world.a.id,
        world.a.customers,
        [shop.products["m365"], shop.products["support"]],
        periods=2,
    )
    assert len(ids) == 12
    scope = TenantScope.tenant(world.a.id)
    posted: set[uuid.UUID] = set()
    expected = 1

    for n, invoice_id in enumerate(ids):
        # when
        if n % 3 == 0:
            with pytest.raises(Boom) as failed:
                await post(db, lifecycle, scope, invoice_id, fail=True)
            # then: the number it held is the one the next posting gets
            assert sequence_of(str(failed.value)) == expected
        elif n % 5 == 0:
            async with db.write(scope) as session:
                await lifecycle.discard(session, scope, SYSTEM, invoice_id)
        else:
            number = await post(db, lifecycle, scope, invoice_id, fail=False)
            # then
            assert sequence_of(number) == expected
            posted.add(invoice_id)
            expected += 1

    # then
    remaining = [i for n, i in enumerate(ids) if not (n % 3 and n % 5 == 0)]
    await assert_gapless(db, world, remaining, posted)
