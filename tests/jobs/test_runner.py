"""The job runner: due jobs run once, in order; a job that cannot run now is tried again with
back-off, and given up (FAILED) after its last attempt; a result is recorded only by the
worker still holding the claim; a key queues its work once; housekeeping forgets what no
longer counts and queues its next run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from db.database import Database
from db.scope import PLATFORM_TENANT_ID, TenantScope
from jobs import queue
from jobs.housekeeping import JOB_HOUSEKEEPING, Housekeeping, schedule_housekeeping
from jobs.models import Job, JobStatus
from jobs.runner import ClaimedJob, Deferred, JobRunner, RetryLater
from limits.models import IdempotencyKey, RateLimit
from tests.factories import World
from tests.payments.harness import Clock

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


async def _job(db: Database, key: str) -> Job:
    async with db.read(TenantScope.system()) as session:
        found = await session.scalar(select(Job).where(Job.key == key))
        assert found is not None
        return found


async def _schedule(
    db: Database, reseller_id: uuid.UUID, key: str, run_at: datetime, kind: str = "test"
) -> bool:
    async with db.write(TenantScope.system()) as session:
        return await queue.schedule(
            session, reseller_id=reseller_id, kind=kind, key=key, run_at=run_at, payload={"n": key}
        )


async def test_due_jobs_run_once_in_order_and_a_key_queues_once(db: Database, world: World):
    clock = Clock(T0)
    ran: list[str] = []

    async def handler(job: ClaimedJob) -> None:
        ran.append(job.payload["n"])

    runner = JobRunner(db, {"test": handler}, clock=clock)
    assert await _schedule(db, world.a.id, "second", T0 - timedelta(minutes=1))
    assert await _schedule(db, world.b.id, "first", T0 - timedelta(minutes=2))
    assert await _schedule(db, world.a.id, "later", T0 + timedelta(hours=1))
    assert not await _schedule(db, world.a.id, "second", T0)  # the first one stands
    assert await runner.run_due() == 2
    assert ran == ["first", "second"]
    assert (await _job(db, "first")).status is JobStatus.DONE
    assert (await _job(db, "later")).status is JobStatus.QUEUED
    assert await runner.run_due() == 0  # nothing runs twice
    clock.advance(hours=1)
    assert await runner.run_due() == 1 and ran[-1] == "later"


async def test_retry_later_backs_off_then_gives_up(db: Database, world: World):
    clock = Clock(T0)
    calls: list[int] = []

    async def flaky(job: ClaimedJob) -> None:
        calls.append(job.attempts)
        raise RetryLater("the far side is away")

    runner = JobRunner(db, {"test": flaky}, clock=clock, max_attempts=3, retry_seconds=10)
    await _schedule(db, world.a.id, "k", T0)
    assert await runner.run_due() == 1
    job = await _job(db, "k")
    assert (job.status, job.attempts, job.last_error) == (
        JobStatus.QUEUED,
        1,
        "the far side is away",
    )
    assert job.run_at == T0 + timedelta(seconds=10)
    clock.now = job.run_at
    await runner.run_due()
    assert (await _job(db, "k")).run_at == clock.now + timedelta(seconds=20)  # doubled
    clock.advance(seconds=20)
    await runner.run_due()
    job = await _job(db, "k")
    assert (job.status, job.attempts) == (JobStatus.FAILED, 3) and calls == [1, 2, 3]


async def test_a_deferred_job_waits_without_spending_an_attempt(db: Database, world: World):
    clock = Clock(T0)
    seen: list[int] = []

    async def not_yet(job: ClaimedJob) -> None:
        seen.append(job.attempts)
        if len(seen) < 4:
            raise Deferred(clock() + timedelta(seconds=5))

    runner = JobRunner(db, {"test": not_yet}, clock=clock, max_attempts=2)
    await _schedule(db, world.a.id, "k", T0)
    for _ in range(3):
        assert await runner.run_due() == 1
        job = await _job(db, "k")
        assert (job.status, job.attempts, job.last_error) == (JobStatus.QUEUED, 0, None)
        assert job.run_at == clock.now + timedelta(seconds=5)
        assert await runner.run_due() == 0  # not before then
        clock.advance(seconds=5)
    assert await runner.run_due() == 1
    assert (await _job(db, "k")).status is JobStatus.DONE and seen == [1, 1, 1, 1]


async def test_an_unexpected_error_is_retried_without_its_text(db: Database, world: World):
    async def broken(job: ClaimedJob) -> None:
        raise ValueError("secret detail")

    runner = JobRunner(db, {"test": broken}, clock=Clock(T0))
    await _schedule(db, world.a.id, "k", T0)
    await runner.run_due()
    job = await _job(db, "k")
    assert job.status is JobStatus.QUEUED and job.last_error == "unexpected error: ValueError"


async def test_a_result_is_recorded_only_by_the_claim_that_holds_it(db: Database, world: World):
    clock = Clock(T0)
    runner = JobRunner(db, {"test": lambda job: _noop()}, clock=clock, lease_seconds=300)
    await _schedule(db, world.a.id, "k", T0)
    [stale] = await runner.claim()
    clock.advance(seconds=301)  # the lease ran out: another worker claims it and finishes
    [fresh] = await runner.claim()
    await runner.work(fresh)
    done = await _job(db, "k")
    await runner.work(stale)  # the first worker comes back late
    after = await _job(db, "k")
    assert (after.status, after.attempts, after.finished_at) == (
        JobStatus.DONE,
        2,
        done.finished_at,
    )


async def _noop() -> None:
    return None


async def test_housekeeping_forgets_what_no_longer_counts_and_queues_tomorrow(
    db: Database, world: World
):
    clock = Clock(T0)
    now_epoch = T0.timestamp()
    async with db.write(TenantScope.system()) as session:
        for key, expires in (("old", T0 - timedelta(hours=1)), ("live", T0 + timedelta(hours=1))):
            session.add(
                IdempotencyKey(
                    reseller_id=world.a.id,
                    operation="op",
                    key=key,
                    fingerprint="f",
                    result={},
                    created_at=T0 - timedelta(days=1),
                    expires_at=expires,
                )
            )
        for key, updated, blocked in (
            ("idle", now_epoch - 2 * 86400, None),
            ("recent", now_epoch - 60, None),
            ("blocked", now_epoch - 2 * 86400, now_epoch + 600),
        ):
            session.add(
                RateLimit(
                    reseller_id=world.a.id,
                    key=key,
                    level=1.0,
                    updated=updated,
                    refused=False,
                    failures=0,
                    blocked_until=blocked,
                )
            )
    await _schedule(db, world.a.id, "finished", T0 - timedelta(days=40))
    async with db.write(TenantScope.system()) as session:
        job = await session.scalar(select(Job).where(Job.key == "finished"))
        assert job is not None
        job.status, job.finished_at = JobStatus.DONE, T0 - timedelta(days=31)
    await schedule_housekeeping(db, T0)
    await schedule_housekeeping(db, T0)  # every worker asks; one run a day
    handler = Housekeeping(db, clock=clock, epoch=lambda: now_epoch)
    assert await JobRunner(db, {JOB_HOUSEKEEPING: handler}, clock=clock).run_due() == 1
    async with db.read(TenantScope.system()) as session:
        keys = set(await session.scalars(select(IdempotencyKey.key)))
        limits = set(await session.scalars(select(RateLimit.key)))
        jobs: dict[str, Any] = {
            j.key: j
            for j in await session.scalars(
                select(Job).where(Job.reseller_id.in_([world.a.id, PLATFORM_TENANT_ID]))
            )
        }
    assert keys == {"live"} and limits == {"recent", "blocked"}
    assert "finished" not in jobs
    queued = [
        j for j in jobs.values() if j.kind == JOB_HOUSEKEEPING and j.status is JobStatus.QUEUED
    ]
    assert [j.run_at for j in queued] == [datetime(2027, 1, 5, 3, 0, tzinfo=UTC)]
