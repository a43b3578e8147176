"""The PDF renderer's pool: drawings in worker processes, the same documents as in a thread,
fair between tenants, a dead worker replaced, no process left behind."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from xhtml2pdf import context as xhtml2pdf_context

from documents.html import invoice_html
from documents.renderer import PdfRenderer, machine_workers
from server.app import create_app
from server.settings import Settings, SettingsError
from tests.documents import long_invoice, make_invoice
from tests.documents.test_pdf import page_texts

HTML = invoice_html(make_invoice(), pdf=True)


def children() -> set[int]:
    return {process.pid for process in multiprocessing.active_children() if process.pid}


def pool_workers(renderer: PdfRenderer) -> set[int]:
    """The pids of the renderer's own pool (other tests' processes may still be ending)."""
    assert renderer._pool is not None
    return set(renderer._pool._processes)


@pytest.fixture
async def pool() -> AsyncIterator[PdfRenderer]:
    renderer = PdfRenderer(1)
    try:
        yield renderer
    finally:
        await asyncio.to_thread(renderer.close)


async def test_a_pool_draws_what_a_thread_draws(pool: PdfRenderer):
    in_thread = await PdfRenderer(0).render(HTML)
    in_pool = await pool.render(HTML)
    assert in_pool.startswith(b"%PDF-")
    assert page_texts(in_pool) == page_texts(in_thread)
    assert pool.drawn == 1


async def test_the_workers_start_with_the_server_and_stop_with_it(settings: Settings):
    before = children()
    app = create_app(settings.with_(pdf_workers=2))
    async with LifespanManager(app):
        started = children() - before
        assert len(started) == 2  # started at start-up, before any document is asked for
        renderer = app.state.services.documents.renderer
        assert (await renderer.render(HTML)).startswith(b"%PDF-")
        assert children() - before == started  # drawn by them, no process more
    assert not children() & started


async def test_one_tenants_burst_does_not_hold_back_another(pool: PdfRenderer):
    """With one worker, tenant A asks for five PDFs and tenant B for one right after: B's is
    drawn second, not sixth, because A waits its turn outside the pool."""
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    finished: list[uuid.UUID] = []

    async def draw(tenant: uuid.UUID) -> None:
        await pool.render(HTML, tenant)
        finished.append(tenant)

    await pool.render(HTML)  # started and warm: the order below is the pool's, not start-up's
    await asyncio.gather(*[draw(busy) for _ in range(5)], draw(quiet))
    assert finished.index(quiet) == 1
    assert finished.count(busy) == 5


async def test_a_tenant_is_forgotten_once_nothing_of_it_is_under_way():
    renderer = PdfRenderer(0)
    tenant = uuid.uuid4()
    await asyncio.gather(*[renderer.render(HTML, tenant) for _ in range(3)])
    assert renderer.drawn == 3
    assert not renderer._turns.semaphores  # nothing kept for a tenant with nothing under way


async def test_a_worker_killed_mid_drawing_is_replaced_and_the_drawing_done(pool: PdfRenderer):
    await pool.render(HTML)
    first = pool_workers(pool)
    assert first
    drawing = asyncio.ensure_future(pool.render(invoice_html(long_invoice(200), pdf=True)))
    await asyncio.sleep(0.3)  # the long document is being drawn
    for pid in first:
        os.kill(pid, signal.SIGKILL)
    body = await drawing
    assert body.startswith(b"%PDF-")
    assert len(page_texts(body)) > 1
    assert pool_workers(pool) and not pool_workers(pool) & first


# A process that starts a pool of two, writes their pids to a file, and waits to be killed.
OWNER = """
import asyncio, sys
from pathlib import Path
from documents.renderer import PdfRenderer

async def main():
    renderer = PdfRenderer(2)
    await renderer.render("<p>x</p>")
    await asyncio.sleep(0.5)  # the second worker has started too
    Path(sys.argv[1]).write_text(" ".join(map(str, renderer._pool._processes)))
    await asyncio.sleep(600)

asyncio.run(main())
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG)")
async def test_the_workers_of_a_server_killed_outright_end_with_it(tmp_path: Path):
    said = tmp_path / "workers"
    owner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", OWNER, str(said), cwd=Path(__file__).parents[2]
    )
    for _ in range(600):
        if said.exists() or owner.returncode is not None:
            break
        await asyncio.sleep(0.1)
    workers = [int(pid) for pid in said.read_text().split()]
    assert len(workers) == 2 and all(map(alive, workers))
    owner.kill()
    await owner.wait()
    for _ in range(100):
        if not any(map(alive, workers)):
            break
        await asyncio.sleep(0.1)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "workers outlived their server"


def dies_at_start() -> None:
    """A worker initializer that ends its process: a pool whose workers cannot start."""
    os._exit(3)


async def test_workers_that_cannot_start_leave_the_process_drawing_itself(
    caplog: pytest.LogCaptureFixture,
):
    renderer = PdfRenderer(1, initializer=dies_at_start)
    try:
        body = await renderer.render(HTML)
    finally:
        await asyncio.to_thread(renderer.close)
    assert body.startswith(b"%PDF-") and renderer.drawn == 1
    assert renderer.workers == 0  # from now on, in a thread
    assert "PDF workers cannot start" in caplog.text


async def test_a_document_that_kills_working_workers_is_refused_not_drawn_here(
    pool: PdfRenderer, monkeypatch: pytest.MonkeyPatch
):
    await pool.render(HTML)  # the workers work

    async def broken(*_args: object) -> bytes:
        raise BrokenProcessPool("killed")

    monkeypatch.setattr(asyncio.get_running_loop(), "run_in_executor", broken)
    with pytest.raises(BrokenProcessPool):
        await pool.render(HTML)
    assert pool.workers == 1


async def test_a_bad_drawing_is_the_callers_error_and_the_pool_goes_on(pool: PdfRenderer):
    """A document the renderer cannot draw (never one of ours: the layout tests see to that)
    raises in the caller, as in a thread; the worker lives on."""
    with pytest.raises(ValueError, match="can't find template"):
        await pool.render('<pdf:nextpage name="nope" />')
    workers = pool_workers(pool)
    assert workers
    assert (await pool.render(HTML)).startswith(b"%PDF-")
    assert pool_workers(pool) == workers  # the same process drew the next one


def test_the_default_is_one_worker_per_usable_cpu():
    assert PdfRenderer().workers == machine_workers() == len(os.sched_getaffinity(0))
    with pytest.raises(ValueError):
        PdfRenderer(-1)


def test_pdf_workers_is_read_from_the_environment():
    env = {"CHANNELBILL_ENV": "test", "CHANNELBILL_SECRET_KEY": "k" * 32}
    assert Settings.from_env(env).pdf_workers is None
    assert Settings.from_env({**env, "PDF_WORKERS": "3"}).pdf_workers == 3
    assert Settings.from_env({**env, "PDF_WORKERS": "0"}).pdf_workers == 0
    with pytest.raises(SettingsError, match="PDF_WORKERS"):
        Settings.from_env({**env, "PDF_WORKERS": "-1"})


def test_a_font_files_digest_is_kept_until_the_file_changes(tmp_path: Path):
    digest = xhtml2pdf_context._file_digest
    assert getattr(digest, "remembered", False)  # the hook of documents.pdf is in place
    font = tmp_path / "face.ttf"
    font.write_bytes(b"first")
    first = digest(str(font))
    assert first == hashlib.md5(b"first").hexdigest()  # noqa: S324 (xhtml2pdf's own choice)
    assert digest(str(font)) == first
    font.write_bytes(b"second, longer")
    assert digest(str(font)) == hashlib.md5(b"second, longer").hexdigest()  # noqa: S324
    assert digest(str(tmp_path / "missing.ttf")) is None
    assert digest(None) is None
