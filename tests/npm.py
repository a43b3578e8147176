"""npm packages that tests use (the graphql-http audit, axe-core): each folder has its own
package.json and package-lock.json, and the tests install it with ``npm ci`` on first use."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

NPM_CI_TIMEOUT_S = 300


def tool(name: str, needed_for: str) -> str:
    """The path of ``name``; a skip without it (a failure under CI, which installs it)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} not found: {needed_for}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI installs it (.ci/run)")
        pytest.skip(reason)
    return path


def installed(directory: Path, needed_for: str) -> Path:
    """``directory``'s node_modules as its package-lock.json pins it, installed once and kept:
    npm writes node_modules/.package-lock.json last, so a copy newer than the lock file is a
    finished, current install."""
    lock = directory / "package-lock.json"
    marker = directory / "node_modules" / ".package-lock.json"
    if not marker.is_file() or marker.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            [
                tool("npm", needed_for),
                "ci",
                "--prefer-offline",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
            cwd=directory,
            check=True,
            timeout=NPM_CI_TIMEOUT_S,
        )
    return directory / "node_modules"
