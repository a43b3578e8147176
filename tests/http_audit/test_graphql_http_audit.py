"""The graphql-http audit (the GraphQL over HTTP spec's own test suite) against the real server:
no MUST may fail (an error) and no SHOULD (a warning); MAYs that we leave out are notices."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import LiveServer, _serving
from tests.conftest import Postgres, _truncate

AUDIT_DIR = Path(__file__).resolve().parent
NPM_CI_TIMEOUT_S = 300
AUDIT_TIMEOUT_S = 120


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} not found: the graphql-http audit runs on node"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI installs it (.ci/run)")
        pytest.skip(reason)
    return path


def _installed() -> Path:
    """node_modules as package-lock.json pins it, installed once and kept: npm writes
    node_modules/.package-lock.json last, so a copy newer than the lock file is a finished,
    current install."""
    lock = AUDIT_DIR / "package-lock.json"
    marker = AUDIT_DIR / "node_modules" / ".package-lock.json"
    if not marker.is_file() or marker.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            [_tool("npm"), "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=AUDIT_DIR,
            check=True,
            timeout=NPM_CI_TIMEOUT_S,
        )
    return AUDIT_DIR / "node_modules"


@pytest.fixture
def live(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """`channelbill serve` with the demo data, on SQLite or on the PostgreSQL of the run."""
    settings: dict[str, str] = {}
    if backend == "postgresql":
        pg: Postgres = request.getfixturevalue("postgres")
        asyncio.run(_truncate(pg))
        settings = {
            "DATABASE_URL": pg.app_url,
            "MIGRATION_DATABASE_URL": pg.owner_url,
            "CHANNELBILL_SEED_DEMO": "1",
        }
    with _serving(tmp_path_factory, **settings) as server:
        yield server


def test_the_server_passes_the_graphql_over_http_audit(live: LiveServer):
    # given the audit's packages
    _installed()
    # when it runs against the live endpoint
    run = subprocess.run(
        [_tool("node"), "audit.mjs", f"{live.url}/graphql"],
        cwd=AUDIT_DIR,
        capture_output=True,
        text=True,
        timeout=AUDIT_TIMEOUT_S,
    )
    # then every audit ran, and none failed but the optional ones
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert len(results) > 50, results
    by_status: dict[str, list[dict[str, object]]] = {}
    for result in results:
        by_status.setdefault(str(result["status"]), []).append(result)
    for notice in by_status.get("notice", []):
        print(f"notice {notice['id']}: {notice['name']} ({notice['reason']})")
    failed = by_status.get("error", []) + by_status.get("warn", [])
    assert failed == [], json.dumps(failed, indent=2)
