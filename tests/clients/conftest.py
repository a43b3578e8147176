"""Fixtures of the client-tool tests: the pinned npm packages of package-lock.json, the code
graphql-codegen generates from operations/, and the real server on either database with the demo
data, for node scripts to talk to over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import (
    DEMO_PASSWORD,
    SERVER_SETTINGS,
    LiveServer,
    _free_port,
    _stop,
)
from tests.browser.conftest import _wait_until_healthy as wait_until_healthy
from tests.conftest import TEST_SECRET, Postgres, empty_database

CLIENTS = Path(__file__).resolve().parent
REPO_ROOT = CLIENTS.parents[1]
NODE_MODULES = CLIENTS / "node_modules"
# What the installed node_modules was installed from: npm ci runs again only when the lock changes.
STAMP = NODE_MODULES / ".package-lock.sha256"
NODE_TIMEOUT_S = 120.0
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { accessToken errors { code } } }"""


def _tool(name: str) -> str:
    """The path of node or npm; without them the tests skip, except on CI, which installs them."""
    found = shutil.which(name)
    if found:
        return found
    reason = f"no {name} on PATH: the client-tool tests need Node.js 20 or later and npm"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run them")
    pytest.skip(reason)


def run_node(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run a script of tests/clients with node, and return what it printed; fail with its stderr."""
    result = subprocess.run(
        [_tool("node"), str(CLIENTS / script), *args],
        cwd=CLIENTS,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
    )
    assert result.returncode == 0, f"node {script} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def run_bin(package_bin: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    """Run an installed package's command; fail with everything it printed."""
    result = subprocess.run(
        [_tool("node"), str(NODE_MODULES / package_bin), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
    )
    assert result.returncode == 0, f"{package_bin} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """tests/clients/node_modules as package-lock.json pins it (npm ci, once per lock file)."""
    npm = _tool("npm")
    lock = hashlib.sha256((CLIENTS / "package-lock.json").read_bytes()).hexdigest()
    if not (STAMP.is_file() and STAMP.read_text(encoding="utf-8") == lock):
        result = subprocess.run(
            [npm, "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CLIENTS,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
        STAMP.write_text(lock, encoding="utf-8")
    return NODE_MODULES


@pytest.fixture(scope="module")
def generated(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with gql/ (the client preset's output for operations/ and schema.graphql),
    typecheck.ts and a link to node_modules, so tsc resolves @apollo/client from it."""
    out = tmp_path_factory.mktemp("codegen")
    run_bin(
        "@graphql-codegen/cli/cjs/bin.js",
        "--silent",
        "--config",
        str(CLIENTS / "codegen.mjs"),
        cwd=CLIENTS,
        env={"CODEGEN_OUT": str(out), "CODEGEN_SCHEMA": str(REPO_ROOT / "schema.graphql")},
    )
    shutil.copyfile(CLIENTS / "typecheck.ts", out / "typecheck.ts")
    (out / "node_modules").symlink_to(node_modules, target_is_directory=True)
    return out


def _server_env(database: dict[str, str], port: int, data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SERVER_SETTINGS and not key.startswith(("CHANNELBILL_", "SMTP_"))
    }
    return (
        env
        | database
        | {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "MIGRATE_ON_START": "false",
            "CHANNELBILL_ENV": "test",
            "CHANNELBILL_SECRET_KEY": TEST_SECRET,
            "CHANNELBILL_SEED_DEMO": "true",
            "CHANNELBILL_DEMO_PASSWORD": DEMO_PASSWORD,
            "CHANNELBILL_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def backend(request: pytest.FixtureRequest) -> str:
    """The databases of tests/conftest.py, once per module here: a live server with the demo
    data takes seconds to start, so the tests of a module share one per database."""
    return str(request.param)


@pytest.fixture(scope="module")
def live_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """`channelbill serve` on a free port over a fresh, migrated database of the backend, which
    it fills with the demo data on start."""
    data_dir = tmp_path_factory.mktemp("live")
    if backend == "postgresql":
        pg: Postgres = request.getfixturevalue("postgres")
        asyncio.run(empty_database(pg))
        database = {"DATABASE_URL": pg.app_url, "MIGRATION_DATABASE_URL": pg.owner_url}
    else:
        path = data_dir / "channelbill.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        database = {"DATABASE_URL": f"sqlite+aiosqlite:///{path}"}
    port = _free_port()
    live = LiveServer(url=f"http://127.0.0.1:{port}", log_path=data_dir / "server.log")
    with live.log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"],
            cwd=REPO_ROOT,
            env=_server_env(database, port, data_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        problem = wait_until_healthy(process, live.url)
        if problem is not None:
            _stop(process)
            pytest.fail(f"channelbill serve did not start: {problem}\n{live.output()}")
        yield live
    finally:
        _stop(process)


def sign_in(live: LiveServer, email: str, password: str = DEMO_PASSWORD) -> str:
    """An access token from the login mutation over plain HTTP (the demo's password)."""
    response = httpx.post(
        f"{live.url}/graphql",
        json={"query": LOGIN, "variables": {"email": email, "password": password}},
        timeout=10.0,
    )
    assert response.status_code == 200, response.text
    login: dict[str, Any] = response.json()["data"]["login"]
    assert login["errors"] == [], login
    return str(login["accessToken"])
