"""Refuse request bodies over a size before anything reads them whole: 413, GraphQL-shaped.

A declared Content-Length over the limit is refused before a byte is read; a body without one
(chunked) is counted as it streams and refused the moment it passes the limit. Multipart bodies
(logo uploads) have a limit of their own, large enough for an oversized logo to reach the check
that explains what is wrong with it.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.errors import BAD_USER_INPUT


class _TooLarge(Exception):
    """Raised from ``receive``: unwinds whatever was reading the body."""


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, multipart_max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.multipart_max_bytes = max(multipart_max_bytes, max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        multipart = content_type == b"multipart/form-data"
        limit = self.multipart_max_bytes if multipart else self.max_bytes
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, limit)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = orjson.dumps(
        {
            "data": None,
            "errors": [
                {
                    "message": f"the request body is larger than {limit} bytes",
                    "extensions": {"code": BAD_USER_INPUT, "maxBytes": limit},
                }
            ],
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
