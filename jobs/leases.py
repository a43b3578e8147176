"""The loop every durable queue runs: claim a batch under a lease, work each item outside any
transaction, record its result, and give back what was not tried.

Two queues run it: the outbox (``notifications.dispatcher``) and the job table
(``jobs.runner``). Each says how it claims, works, records and releases; the loop owns the
rest: never starting an item its lease might not cover, letting an item under way finish and
record on stop rather than abandon it, pausing (not dying) when the database is away.

A claimed item belongs to its worker until the lease ends; a worker that dies mid-item leaves
the lease to expire, and the item is claimed again. So work is done at least once, never zero
times: what a queue runs must tolerate a repeat (the outbox names each message, a charge
checks its attempt row first).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, Update, or_, select, update

from core.clock import utcnow

MAX_ERROR_PAUSE_SECONDS = 60.0
# On stop, how long an item under way may take to finish and be recorded before it is abandoned
# to the lease (and possibly worked again later).
FINISH_ON_STOP_SECONDS = 10.0


class Leased(Protocol):
    @property
    def leased_until(self) -> datetime: ...


ItemT = TypeVar("ItemT", bound=Leased)


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: doubling from ``base``, capped."""
    exponent = min(max(attempts - 1, 0), 40)  # 2**40 intervals is past any cap
    return float(min(base * 2**exponent, cap))


def claim_statement(
    model: Any,
    due: list[ColumnElement[bool]],
    order_by: list[Any],
    returning: list[Any],
    *,
    now: datetime,
    leased_until: datetime,
    limit: int,
    skip_locked: bool,
) -> Update:
    """One UPDATE that leases a batch of due rows of ``model`` (its ``locked_until`` and
    ``attempts`` columns) and counts the attempt, returning ``returning``.

    On PostgreSQL (``skip_locked``) rows another worker is claiming right now are skipped, not
    waited for; once it commits, their lease keeps them out. The batch is a materialized CTE,
    not "id IN (subquery)": PostgreSQL may run such a subquery again for each row it updates (a
    semi-join rescan, or a recheck after waiting on a lock), and each run skips and LIMITs anew,
    so a claim could take far more than a batch."""
    chosen = (
        select(model.id)
        .where(*due, or_(model.locked_until.is_(None), model.locked_until < now))
        .order_by(*order_by)
        .limit(limit)
    )
    if skip_locked:
        chosen = chosen.with_for_update(skip_locked=True)
    batch = chosen.cte("due").prefix_with("MATERIALIZED", dialect="postgresql")
    return (
        update(model)
        .where(model.id.in_(select(batch.c.id)))
        .values(locked_until=leased_until, attempts=model.attempts + 1)
        .returning(*returning)
        .execution_options(synchronize_session=False)
    )


class LeasedWorker(ABC, Generic[ItemT]):
    """One queue's worker. ``run_once`` for a single round (tests, a benchmark), ``start`` and
    ``stop`` to run it for good as a task of the running loop (an app's lifespan, the worker)."""

    name = "worker"

    def __init__(self, *, poll_seconds: float, work_timeout_seconds: float, log: logging.Logger):
        if poll_seconds <= 0 or work_timeout_seconds <= 0:
            raise ValueError("poll and work timeouts must be positive")
        self.poll_seconds = poll_seconds
        self.work_timeout_seconds = work_timeout_seconds
        self.log = log
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def claim(self) -> list[ItemT]:
        """Lease a batch of due items in one short transaction, oldest first."""

    @abstractmethod
    async def work(self, item: ItemT) -> None:
        """Do the item and record its result (its own short transactions)."""

    @abstractmethod
    async def release(self, items: Sequence[ItemT]) -> None:
        """Hand back items that were claimed but not tried: no lease, no attempt counted."""

    # -- one round -------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim, work and record one batch; return how many items were worked."""
        pending = await self.claim()
        processed = 0
        margin = timedelta(seconds=self.work_timeout_seconds)
        try:
            while pending:
                item = pending[0]
                if utcnow() + margin >= item.leased_until:
                    break  # the lease might run out mid-item: give the rest back
                pending.pop(0)
                await self._finish_even_if_stopped(item)
                processed += 1
        finally:
            # Not yet tried (a long batch, or stop()): hand back now, rather than leave the
            # items waiting for the lease to expire.
            if pending:
                await self.release(pending)
        return processed

    async def _finish_even_if_stopped(self, item: ItemT) -> None:
        # Cancelling between the far side's "done" and recording it would leave the row leased,
        # to be worked again when the lease ends: on stop, let the item finish first.
        work = asyncio.ensure_future(self.work(item))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            done, _ = await asyncio.wait({work}, timeout=FINISH_ON_STOP_SECONDS)
            if not done:
                work.cancel()
                self.log.warning(
                    "%s: %r abandoned mid-work; its lease will expire", self.name, item
                )
            elif not work.cancelled() and work.exception() is not None:
                self.log.error("%s: %r: result not recorded", self.name, item)
            raise

    # -- running for good ------------------------------------------------------------------

    async def run_forever(self) -> None:
        """Work until cancelled; an error (the database restarting, say) pauses, not ends."""
        errors = 0
        while True:
            try:
                processed = await self.run_once()
            except Exception:
                errors += 1
                pause = min(self.poll_seconds * 2 ** min(errors, 16), MAX_ERROR_PAUSE_SECONDS)
                self.log.exception(
                    "%s failed (%d in a row), next try in %g s", self.name, errors, pause
                )
                await asyncio.sleep(pause)
                continue
            errors = 0
            if processed == 0:
                await asyncio.sleep(self.poll_seconds)

    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"the {self.name} is already running")
        self._task = asyncio.create_task(
            self.run_forever(), name=f"channelbill-{self.name.replace(' ', '-')}"
        )

    async def stop(self) -> None:
        """Cancel the task and wait for it; an item under way is finished and recorded first."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # stop() itself was cancelled: pass that on
