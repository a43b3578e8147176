"""The reads of a /graphql request, its caller's first, share one connection (db/shared.py);
an event stream's do not: it lasts, and reads its caller again as it goes."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from db.database import Database
from db.shared import SharedReads

STREAMS = (b"text/event-stream", b"multipart/mixed")


class SharedReadsPerRequest:
    def __init__(self, app: ASGIApp, db: Database) -> None:
        self.app = app
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _may_stream(scope):
            await self.app(scope, receive, send)
            return
        async with SharedReads(self.db):
            await self.app(scope, receive, send)


def _may_stream(scope: Scope) -> bool:
    accept = b",".join(value for name, value in scope["headers"] if name == b"accept").lower()
    return any(kind in accept for kind in STREAMS)
