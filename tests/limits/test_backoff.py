"""Back-off in the database: attempts are counted atomically, waits double up to a cap, a refused
attempt changes nothing, success forgives, and a quiet key is forgotten."""

from __future__ import annotations

import asyncio

import pytest

from db.database import Database
from db.scope import PLATFORM_TENANT_ID
from limits.backoff import Backoff, charge, forgive

POLICY = Backoff(free=3, first_wait=2.0, max_wait=10.0, forget_after=100.0)


async def attempt(db: Database, now: float, *keys: tuple[str, Backoff]):
    return await charge(db, PLATFORM_TENANT_ID, keys or [("k", POLICY)], now=now)


def test_waits_double_from_the_free_attempts_up_to_the_cap():
    assert [POLICY.wait_after(n) for n in range(1, 8)] == [0, 0, 2, 4, 8, 10, 10]


async def test_free_attempts_then_a_back_off_that_refuses_without_counting(db: Database):
    # when three attempts come at once
    verdicts = [await attempt(db, 1000.0) for _ in range(3)]
    # then all are allowed, and the third begins a 2 s back-off
    assert [v.allowed for v in verdicts] == [True, True, True]
    assert [c.blocks_for for c in verdicts[2].lockouts] == [2.0]
    # the next one, a second later, is refused and told to wait the rest
    refused = await attempt(db, 1001.0)
    assert not refused.allowed and refused.retry_after == pytest.approx(1.0)
    assert refused.lockouts == []
    # and, being refused, it did not lengthen the wait: at 1002 the key lets one through
    later = await attempt(db, 1002.0)
    assert later.allowed and later.charges[0].attempts == 4
    assert later.lockouts[0].blocks_for == 4.0


async def test_success_clears_and_a_quiet_key_is_forgotten(db: Database):
    for _ in range(3):
        await attempt(db, 1000.0)
    # when the attempt succeeds
    await forgive(db, PLATFORM_TENANT_ID, clear=["k"])
    # then the key starts over
    assert (await attempt(db, 1000.5)).charges[0].attempts == 1
    # and after forget_after seconds of quiet, so does a key that was backing off
    for _ in range(5):
        await attempt(db, 2000.0 + _ * 20)
    assert (await attempt(db, 2300.0)).charges[0].attempts == 1


async def test_a_refund_gives_back_one_attempt_and_its_back_off(db: Database):
    for _ in range(3):
        await attempt(db, 1000.0)
    # when the third attempt turns out to be a success of a shared key
    await forgive(db, PLATFORM_TENANT_ID, clear=[], refund=["k"])
    # then the next attempt is not held back and counts as the third
    third = await attempt(db, 1000.0)
    assert third.allowed and third.charges[0].attempts == 3


async def test_keys_are_charged_all_or_none(db: Database):
    # given a key that is backing off
    tight = Backoff(free=1, first_wait=50.0, max_wait=50.0, forget_after=100.0)
    await attempt(db, 1000.0, ("tight", tight))
    # when an attempt charges it together with another key
    verdict = await attempt(db, 1001.0, ("tight", tight), ("loose", POLICY))
    # then it is refused, and the other key was not charged either
    assert not verdict.allowed and verdict.retry_after == pytest.approx(49.0)
    assert (await attempt(db, 1002.0, ("loose", POLICY))).charges[0].attempts == 1


async def test_concurrent_attempts_each_count(db: Database):
    # given 12 attempts at the same instant against 3 free ones
    policy = Backoff(free=3, first_wait=60.0, max_wait=60.0, forget_after=600.0)
    verdicts = await asyncio.gather(*(attempt(db, 5000.0, ("race", policy)) for _ in range(12)))
    # then exactly 3 get through
    assert sum(v.allowed for v in verdicts) == 3


async def test_workers_share_the_count(db: Database, settings):
    # given a second worker: an engine of its own on the same database
    other = Database(settings.database_url, pool_size=2)
    try:
        policy = Backoff(free=4, first_wait=60.0, max_wait=60.0, forget_after=600.0)
        # when both try at once, six attempts each
        verdicts = await asyncio.gather(
            *(attempt(worker, 7000.0, ("shared", policy)) for worker in [db, other] * 6)
        )
    finally:
        await other.dispose()
    # then four got through between them
    assert sum(v.allowed for v in verdicts) == 4
