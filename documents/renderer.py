"""Where PDFs are drawn: a pool of worker processes sized to the machine, shared fairly.

xhtml2pdf and ReportLab are pure Python and hold the interpreter while they draw (tens of
milliseconds a page), so in one process one PDF is drawn at a time and a burst of postings queues
behind it, requests of every other tenant included. ``PdfRenderer`` draws in ``workers`` separate
processes instead (``PDF_WORKERS``, by default one per CPU this process may use), started the
first time a PDF is needed and warmed up with a small document so that the fonts are loaded
before a customer waits for them.

Fairness: a tenant has at most ``workers`` drawings queued or under way in this process; its
next ones wait their turn here, outside the pool, so another tenant's document joins the pool's
queue behind a handful of them rather than behind a whole billing run's.

A worker that dies (killed for memory, say) breaks the pool; the next drawing replaces the pool
and is tried once more. Workers that cannot start at all (no worker has drawn anything and a new
pool breaks too) leave the process drawing in a thread, with an error in the log, rather than
drawing nothing. ``workers=0`` draws in a thread of this process, as a small install or a
test may prefer. Nothing here must agree between server processes: each has its own pool.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import uuid
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import anyio.to_thread

from documents.pdf import html_to_pdf, warm_up

log = logging.getLogger(__name__)
SHARED = "shared"  # the fairness key of drawings that name no tenant
PR_SET_PDEATHSIG = 1  # prctl(2)


def machine_workers() -> int:
    """One worker per CPU this process may run on (a container's CPU set, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class _Turns:
    """At most ``limit`` drawings of one key at once; the semaphore goes when nobody holds it."""

    limit: int
    semaphores: dict[Hashable, asyncio.Semaphore] = field(default_factory=dict)
    users: dict[Hashable, int] = field(default_factory=dict)

    async def acquire(self, key: Hashable) -> None:
        semaphore = self.semaphores.get(key)
        if semaphore is None:
            semaphore = self.semaphores[key] = asyncio.Semaphore(self.limit)
        self.users[key] = self.users.get(key, 0) + 1
        try:
            await semaphore.acquire()
        except BaseException:
            self._leave(key)
            raise

    def release(self, key: Hashable) -> None:
        self.semaphores[key].release()
        self._leave(key)

    def _leave(self, key: Hashable) -> None:
        self.users[key] -= 1
        if not self.users[key]:
            del self.users[key], self.semaphores[key]


class PdfRenderer:
    def __init__(
        self, workers: int | None = None, initializer: Callable[[], None] = warm_up
    ) -> None:
        """``initializer``: what each worker runs first (warming up; a test's own)."""
        self.workers = machine_workers() if workers is None else workers
        if self.workers < 0:
            raise ValueError("workers must not be negative")
        self._initializer = initializer
        self._worked = False  # a worker has drawn a document
        self._pool: ProcessPoolExecutor | None = None
        self._turns = _Turns(limit=max(1, self.workers))
        self.drawn = 0  # PDFs drawn by this renderer (a test's and a benchmark's witness)

    @property
    def in_processes(self) -> bool:
        return self.workers > 0

    def start(self) -> None:
        """Start the workers now rather than at the first drawing (a server's start-up)."""
        if self.in_processes:
            self._ensure_pool()

    async def render(self, html: str, tenant: uuid.UUID | None = None) -> bytes:
        key: Hashable = tenant or SHARED
        await self._turns.acquire(key)
        try:
            body = await self._draw(html)
        finally:
            self._turns.release(key)
        self.drawn += 1
        return body

    async def _draw(self, html: str) -> bytes:
        if not self.in_processes:
            return await anyio.to_thread.run_sync(html_to_pdf, html)
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._ensure_pool()
            try:
                body = await loop.run_in_executor(pool, html_to_pdf, html)
            except BrokenProcessPool:
                self._replace(pool)
                if attempt == 1:
                    log.warning("a PDF worker died; starting a new pool and drawing again")
                    continue
                if self._worked:
                    raise  # workers that did draw die on this document: not drawn here either
                # Workers that never drew anything cannot start here (a main module that is not
                # import-safe, say): the process draws its PDFs itself rather than none at all.
                log.error("PDF workers cannot start; drawing PDFs in the server process")
                self.workers = 0
                return await anyio.to_thread.run_sync(html_to_pdf, html)
            self._worked = True
            return body
        raise AssertionError("unreachable")

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: a worker starts from a clean interpreter, never a copy of a process that
            # holds an event loop, database connections and threads.
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=start_worker,
                initargs=(os.getpid(), self._initializer),
            )
            # Each worker starts (and warms up) as the pool hands it work; start them all now.
            futures: list[Future[None]] = [
                self._pool.submit(os.getpid) for _ in range(self.workers)
            ]
            for future in futures:
                future.add_done_callback(_ignore)
        return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if self._pool is broken:
            self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers (a drawing under way is finished first)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def start_worker(parent: int, initializer: Callable[[], None]) -> None:
    """A worker first asks to end with the process that started it, however that one ends: a
    server killed outright (SIGKILL, the OOM killer) would otherwise leave its workers behind,
    waiting on the pool's queue forever. Linux only; elsewhere the pool's own shutdown does."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    else:
        if os.getppid() != parent:  # it ended before that was asked
            os._exit(0)
    initializer()


def _ignore(future: Future[object]) -> None:
    future.exception()  # a warm-up that failed fails again, visibly, at the first drawing
