"""The server's own logging (uvicorn's access log as `channelbill serve` configures it) never
writes a document link's token or a credential from a query string."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from server.redaction import RedactCredentials, log_config, redact

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJkb2MiOiJpbnZvaWNlIn0.c2lnbmF0dXJlLW9mLWEtbGluaw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_redact_keeps_the_request_line_readable():
    assert redact(f"GET /documents/{TOKEN}?format=pdf") == "GET /documents/[redacted]?format=pdf"
    assert redact("/activate?token=abc&next=/x") == "/activate?token=[redacted]&next=/x"
    assert redact("/graphql?client_secret=s3&a=1") == "/graphql?client_secret=[redacted]&a=1"
    assert redact("/healthz") == "/healthz"


def test_every_handler_of_the_log_config_redacts():
    """What each uvicorn process, one of --workers too, configures its logging from."""
    config = log_config()
    assert config["filters"]["redact_credentials"]["()"] == "server.redaction.RedactCredentials"
    assert {"access", "default"} <= set(config["handlers"])
    assert all("redact_credentials" in h["filters"] for h in config["handlers"].values())
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/documents/{TOKEN}", "1.1", 200),
        None,
    )
    assert RedactCredentials().filter(record)
    assert TOKEN not in record.getMessage() and "/documents/[redacted]" in record.getMessage()


def test_a_downloads_access_log_line_has_no_token(tmp_path):
    # given the server as `channelbill serve` runs it
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/serve.sqlite3",
        "CHANNELBILL_ENV": "development",
        "CHANNELBILL_DATA_DIR": str(tmp_path / "data"),
        "CHANNELBILL_SEED_DEMO": "false",
        "OUTBOX_DISPATCH": "false",
        "PORT": str(port),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            assert server.poll() is None, "the server exited"
            time.sleep(0.2)
        # when a document link is fetched, and a credential rides in a query string
        download = httpx.get(f"{base}/documents/{TOKEN}", timeout=10)
        assert download.status_code in {401, 403, 404}
        httpx.get(f"{base}/healthz?token=s3cret-in-a-query", timeout=10)
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    # then the access log shows both requests, without the credentials
    lines = [line for line in output.splitlines() if "/documents/" in line]
    assert lines and all("/documents/[redacted]" in line for line in lines), output
    assert TOKEN not in output
    assert "s3cret-in-a-query" not in output
    assert "/healthz?token=[redacted]" in output
