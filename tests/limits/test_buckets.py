"""Leaky buckets in the database: a hit fits or is refused atomically, and the level drains."""

from __future__ import annotations

import asyncio

import pytest

from db.database import Database
from db.scope import PLATFORM_TENANT_ID
from limits.buckets import Bucket, take

BUCKET = Bucket(capacity=10, leak_per_second=2)


async def test_hits_fit_until_the_bucket_is_full_then_are_refused(db: Database):
    # given an empty bucket of 10 points
    # when three hits of 4 points come at the same instant
    decisions = [await take(db, PLATFORM_TENANT_ID, "k", 4, BUCKET, now=100.0) for _ in range(3)]
    # then two fit and the third is refused, leaving the level as it was
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[2].level == pytest.approx(8)
    assert decisions[2].retry_after == pytest.approx(1.0)  # 2 points drain in a second
    assert decisions[1].remaining == pytest.approx(2)


async def test_the_level_drains_with_time(db: Database):
    await take(db, PLATFORM_TENANT_ID, "k", 10, BUCKET, now=100.0)
    # given a full bucket, 3 s later 6 points have drained
    later = await take(db, PLATFORM_TENANT_ID, "k", 6, BUCKET, now=103.0)
    assert later.allowed and later.level == pytest.approx(10)
    # and it never drains below empty, nor fills past its capacity on a refused hit
    much_later = await take(db, PLATFORM_TENANT_ID, "k", 1, BUCKET, now=10_000.0)
    assert much_later.level == pytest.approx(1)


async def test_a_cost_larger_than_the_capacity_is_refused_forever(db: Database):
    decision = await take(db, PLATFORM_TENANT_ID, "big", 11, BUCKET, now=1.0)
    assert not decision.allowed and decision.retry_after == float("inf")


async def test_keys_and_tenants_are_separate_buckets(db: Database, world):
    await take(db, PLATFORM_TENANT_ID, "k", 10, BUCKET, now=1.0)
    assert (await take(db, PLATFORM_TENANT_ID, "other", 10, BUCKET, now=1.0)).allowed
    assert (await take(db, world.a.id, "k", 10, BUCKET, now=1.0)).allowed


async def test_concurrent_hits_never_overspend(db: Database):
    # given 20 hits of 1 point at once against a bucket of 10 (no draining)
    bucket = Bucket(capacity=10, leak_per_second=1e-9)
    decisions = await asyncio.gather(
        *(take(db, PLATFORM_TENANT_ID, "race", 1, bucket, now=5.0) for _ in range(20))
    )
    # then exactly 10 are allowed
    assert sum(d.allowed for d in decisions) == 10
