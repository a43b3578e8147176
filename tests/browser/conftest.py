"""Fixtures for the browser tests: the real server in a subprocess, a signed-in owner, and a
headless chromium that is never allowed to leave 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright

from tests.conftest import Postgres, empty_database

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
LOCAL_HOST = "127.0.0.1"
DEMO_PASSWORD = "channelbill-demo"
LOGIN_OWNER = (
    'mutation { login(input: {email: "owner@acme.example", password: "channelbill-demo"})'
    " { accessToken errors { code } } }"
)
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 10.0
PAGE_TIMEOUT_MS = 15_000
SHORT_ACCESS_TOKEN_TTL_S = 3
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Settings the server reads from the environment: none may leak in from the caller's shell.
SERVER_SETTINGS = (
    "DATABASE_URL",
    "MIGRATION_DATABASE_URL",
    "HOST",
    "PORT",
    "PUBLIC_URL",
    "MIGRATE_ON_START",
    "ACCESS_TOKEN_TTL_SECONDS",
    "REFRESH_TOKEN_TTL_SECONDS",
    "DB_POOL_SIZE",
)


@dataclass(frozen=True)
class LiveServer:
    url: str
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class OfflinePage:
    """A page whose requests may only go to 127.0.0.1: anything else is aborted and recorded."""

    page: Page
    offsite_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL_HOST, 0))
        return int(sock.getsockname()[1])


def _server_env(port: int, data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SERVER_SETTINGS and not key.startswith(("CHANNELBILL_", "SMTP_"))
    }
    env.update(
        HOST=LOCAL_HOST,
        PORT=str(port),
        DATABASE_URL=f"sqlite+aiosqlite:///{data_dir / 'browser.sqlite3'}",
        CHANNELBILL_ENV="development",
        CHANNELBILL_SEED_DEMO="1",
        CHANNELBILL_DEMO_PASSWORD=DEMO_PASSWORD,
        CHANNELBILL_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str) -> str | None:
    """None once GET /healthz answers 200, else why it never did."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return f"the server exited with status {process.returncode}"
            try:
                if client.get(f"{url}/healthz").status_code == 200:
                    return None
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    return f"GET /healthz did not answer 200 within {STARTUP_TIMEOUT_S:.0f} s"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=SHUTDOWN_TIMEOUT_S)


@contextmanager
def _serving(tmp_path_factory: pytest.TempPathFactory, **settings: str) -> Iterator[LiveServer]:
    """`channelbill serve` on a free port, with a fresh SQLite database, the demo data and the
    given extra settings (environment variables)."""
    data_dir = tmp_path_factory.mktemp("browser")
    port = _free_port()
    live = LiveServer(url=f"http://{LOCAL_HOST}:{port}", log_path=data_dir / "server.log")
    with live.log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"],
            cwd=REPO_ROOT,
            env={**_server_env(port, data_dir), **settings},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        problem = _wait_until_healthy(process, live.url)
        if problem is not None:
            _stop(process)
            pytest.fail(f"channelbill serve did not start: {problem}\n{live.output()}")
        yield live
    finally:
        _stop(process)


@contextmanager
def serving_on(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """`channelbill serve` with the demo data, on SQLite or on the PostgreSQL of the run (the
    ``backend`` fixture's): emptied, then migrated and seeded by the server itself."""
    settings: dict[str, str] = {}
    if backend == "postgresql":
        pg: Postgres = request.getfixturevalue("postgres")
        asyncio.run(empty_database(pg))
        settings = {
            "DATABASE_URL": pg.app_url,
            "MIGRATION_DATABASE_URL": pg.owner_url,
            "CHANNELBILL_SEED_DEMO": "1",
        }
    with _serving(tmp_path_factory, **settings) as live:
        yield live


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The server with its default settings."""
    with _serving(tmp_path_factory) as live:
        yield live


@pytest.fixture(scope="module")
def short_lived_tokens_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The server handing out access tokens that expire after SHORT_ACCESS_TOKEN_TTL_S, so a
    test can wait past one's lifetime."""
    with _serving(tmp_path_factory, ACCESS_TOKEN_TTL_SECONDS=str(SHORT_ACCESS_TOKEN_TTL_S)) as live:
        yield live


@pytest.fixture(scope="module")
def owner_token(server: LiveServer) -> str:
    """An access token for the Acme Cloud owner, from the login mutation over plain HTTP."""
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        response = client.post("/graphql", json={"query": LOGIN_OWNER})
    assert response.status_code == 200, response.text
    login = response.json()["data"]["login"]
    assert login["errors"] == [], login
    token: str = login["accessToken"]
    assert token
    return token


def _chromium_executable() -> str:
    candidates = [os.environ.get("CHANNELBILL_CHROMIUM"), "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    reason = (
        "no chromium to drive: set CHANNELBILL_CHROMIUM to a chromium executable"
        f" (looked at {', '.join(c for c in candidates if c)})"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


@contextmanager
def launched_browser() -> Iterator[Browser]:
    """The system chromium, headless, under Playwright (whose event loop runs while it does)."""
    executable = _chromium_executable()
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_browser() as launched:
        yield launched


@contextmanager
def offline_tab(browser: Browser, **options: Any) -> Iterator[OfflinePage]:
    """A tab in a fresh browser context (``options`` are the context's), held to 127.0.0.1,
    recording script errors and console errors."""
    context = browser.new_context(**{"viewport": {"width": 1400, "height": 900}, **options})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    offline = OfflinePage(page)

    def only_local(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == LOCAL_HOST:
            route.continue_()
        else:
            offline.offsite_requests.append(url)
            route.abort("blockedbyclient")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            offline.console_errors.append(message.text)

    page.route("**/*", only_local)
    page.on("pageerror", lambda error: offline.page_errors.append(str(error)))
    page.on("console", console)
    try:
        yield offline
    finally:
        context.close()


@pytest.fixture
def offline_page(browser: Browser) -> Iterator[OfflinePage]:
    """A fresh context per test, so GraphiQL's stored headers and tabs never carry over."""
    with offline_tab(browser) as offline:
        yield offline


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """On a failure, show what the server printed next to the failure itself."""
    report = yield
    for live in getattr(item, "funcargs", {}).values():
        if report.failed and isinstance(live, LiveServer) and live.log_path.is_file():
            report.sections.append(("channelbill serve output", live.output()))
    return report
