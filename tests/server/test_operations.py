"""The operators' commands, run as real processes on a fresh SQLite file: a platform admin, a
reseller (its OWNER invited), a billing period with its summary, a failed email sent again."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG = "a long enough password 42"


def run(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    settings = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/ops.sqlite3",
        "CHANNELBILL_ENV": "development",
        "CHANNELBILL_DATA_DIR": str(tmp_path / "data"),
        "SMTP_HOST": "",
    }
    assert run("migrate", env=settings).returncode == 0
    return settings


def _rows(env: dict[str, str], sql: str) -> list[tuple]:
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as connection:
        return connection.execute(sql).fetchall()


def test_create_admin_and_reseller(env: dict[str, str]):
    # when an operator makes a platform admin and a reseller
    admin = run(
        "create-admin",
        "--email",
        "Ops@Platform.example",
        "--name",
        "Ops",
        "--password-stdin",
        env=env,
        stdin=STRONG + "\n",
    )
    reseller = run(
        "create-reseller",
        "--name",
        "Initech Cloud",
        "--currency",
        "usd",
        "--owner-email",
        "bill@initech.example",
        "--owner-name",
        "Bill",
        env=env,
    )
    # then both exist, and the reseller's OWNER has an invitation in the outbox
    assert admin.returncode == 0, admin.stderr
    assert reseller.returncode == 0, reseller.stderr
    assert "initech-cloud" in reseller.stdout
    assert _rows(env, "SELECT email, status FROM platform_admins") == [
        ("ops@platform.example", "ACTIVE")
    ]
    assert _rows(env, "SELECT email, role, status FROM users") == [
        ("bill@initech.example", "OWNER", "INVITED")
    ]
    assert _rows(env, "SELECT recipient, event, status FROM outbox_messages") == [
        ("bill@initech.example", "INVITATION", "QUEUED")
    ]


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (
            ["create-admin", "--email", "x@y.example", "--name", "X", "--password-stdin"],
            "short\n",
            "password",
        ),
        (
            [
                "create-reseller",
                "--name",
                "",
                "--currency",
                "EUR",
                "--owner-email",
                "a@b.example",
                "--owner-name",
                "A",
            ],
            "",
            "name",
        ),
        (["billing-run", "2026-13"], "", "is not a month"),
        (["billing-run", "2026-11", "--reseller", "nobody"], "", "no reseller 'nobody'"),
        (["resend-email", "not-an-id"], "", "is not an outbox message id"),
    ],
)
def test_bad_requests_say_why_and_change_nothing(env, args, stdin, says):
    result = run(*args, env=env, stdin=stdin)
    assert result.returncode in (1, 2)
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert _rows(env, "SELECT count(*) FROM resellers") == [(0,)]


def test_billing_run_shows_progress_and_a_summary(env: dict[str, str]):
    # given the demo (which has billed last month)
    assert run("seed-demo", env=env).returncode == 0
    last_month = date.today().replace(day=1) - timedelta(days=1)
    following = (last_month + timedelta(days=1)).strftime("%Y-%m")
    # when the operator runs this month for one reseller
    one = run("billing-run", following, "--reseller", "acme", "--quiet", env=env)
    # then it says how many drafts it made, and made them
    assert one.returncode == 0, one.stderr
    made = int(one.stdout.splitlines()[1].split()[0])
    assert made > 0
    where = f"status = 'DRAFT' AND period_start = '{following}-01'"
    assert _rows(env, f"SELECT count(*) FROM invoices WHERE {where}") == [(made,)]
    # when it runs the month again for every reseller and the platform, with the progress bar
    again = run("billing-run", following, "--wholesale", env=env)
    # then acme's drafts are not made twice, and the bar went through all three runs
    assert again.returncode == 0, again.stderr
    assert "skipped: EXISTS" in again.stdout
    assert "3/3 done" in again.stderr  # two resellers and the wholesale run
    acme = "(SELECT id FROM resellers WHERE slug = 'acme')"
    retail = f"{where} AND kind = 'RETAIL' AND reseller_id = {acme}"
    assert _rows(env, f"SELECT count(*) FROM invoices WHERE {retail}") == [(made,)]


def test_resend_email_requeues_a_failed_message_only(env: dict[str, str]):
    assert run("seed-demo", env=env).returncode == 0
    [(message_id, status)] = _rows(env, "SELECT id, status FROM outbox_messages LIMIT 1")
    formatted = str(__import__("uuid").UUID(message_id))
    refused = run("resend-email", formatted, env=env)
    assert refused.returncode == 1 and f"is {status}" in refused.stderr
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as connection:
        connection.execute(
            "UPDATE outbox_messages SET status = 'FAILED', attempts = 8, last_error = 'x'"
        )
    done = run("resend-email", formatted, env=env)
    assert done.returncode == 0, done.stderr
    rows = _rows(env, "SELECT id, status, attempts, last_error FROM outbox_messages")
    assert [r[1:] for r in rows if r[0] == message_id] == [("QUEUED", 0, None)]
    assert {r[1:] for r in rows if r[0] != message_id} == {("FAILED", 8, "x")}  # the others stay
