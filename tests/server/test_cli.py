"""The command line: `channelbill migrate` and `channelbill seed-demo` on a fresh SQLite file."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from db.migrate import head_revision

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_then_seed_demo(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3",
        "CHANNELBILL_ENV": "development",
        "CHANNELBILL_DATA_DIR": str(tmp_path / "data"),
    }
    migrated = run("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert f"database migrated to {head_revision()}" in migrated.stdout
    first, second = run("seed-demo", env=env), run("seed-demo", env=env)
    assert "demo data loaded" in first.stdout
    assert "demo data already present" in second.stdout
    with sqlite3.connect(tmp_path / "cli.sqlite3") as connection:
        emails = {row[0] for row in connection.execute("SELECT email FROM users")}
    assert {"owner@acme.example", "admin@acme.example", "member@globex.example"} <= emails


def test_bad_settings_exit_with_a_message(tmp_path):
    result = run("migrate", env={"CHANNELBILL_ENV": "production", "CHANNELBILL_SECRET_KEY": ""})
    assert result.returncode == 2
    assert "CHANNELBILL_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_setting_that_is_not_a_number_exits_with_its_name(tmp_path):
    result = run("migrate", env={"PDF_WORKERS": "two", "CHANNELBILL_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "PDF_WORKERS must be a number" in result.stderr
    assert "Traceback" not in result.stderr
