"""A loopback HTTP server that counts what it is asked for: the canary of the PDF renderer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.documents import Canary, png

CANARY_CSS = b"body { background-color: #ff0000; } p { color: #00ff00; }"


@pytest.fixture
def canary() -> Iterator[Canary]:
    """Answers every GET with a real PNG (or a style sheet for *.css), so that a fetch, if the
    renderer made one, would succeed and show in the PDF."""
    image = png(16, 16, (220, 20, 60))
    seen: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                seen.append(self.path)
            css = self.path.endswith(".css")
            body = CANARY_CSS if css else image
            self.send_response(200)
            self.send_header("Content-Type", "text/css" if css else "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the test counts the requests; stderr stays quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="canary", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield Canary(f"http://{host}:{port}", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
