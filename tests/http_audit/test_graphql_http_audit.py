"""The graphql-http audit (the GraphQL over HTTP spec's own test suite) against the real server:
no MUST may fail (an error) and no SHOULD (a warning); MAYs that we leave out are notices."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import LiveServer, serving_on
from tests.npm import installed, tool

AUDIT_DIR = Path(__file__).resolve().parent
AUDIT_TIMEOUT_S = 120
NEEDED_FOR = "the graphql-http audit runs on node"


def _tool(name: str) -> str:
    return tool(name, NEEDED_FOR)


def _installed() -> Path:
    return installed(AUDIT_DIR, NEEDED_FOR)


@pytest.fixture
def live(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """`channelbill serve` with the demo data, on SQLite or on the PostgreSQL of the run."""
    with serving_on(backend, request, tmp_path_factory) as server:
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
