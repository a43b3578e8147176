"""What a server under too much load answers: a request past its time limit is stopped, and a
request that finds no free database connection in time is refused at once, both with a
GraphQL-shaped 503 the client may retry, never an INTERNAL pile-up that delays every tenant."""

from __future__ import annotations

import asyncio
import math

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.errors import SERVICE_UNAVAILABLE, TIMEOUT

RETRY_AFTER_BUSY = 1  # seconds: a pool frees up as soon as the requests holding it end


def _unavailable(message: str, code: str, retry_after: int) -> JSONResponse:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=503,
        headers={"Retry-After": str(retry_after)},
    )


class TimeLimit:
    """Cancels a request still running after ``seconds`` (its transaction rolls back) and answers
    503 TIMEOUT, provided nothing of its response was sent yet. An event stream (GraphQL over
    SSE) is meant to last: once it starts, the limit no longer applies to it."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        limit = asyncio.timeout(self.seconds)

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if _is_event_stream(message):
                    limit.reschedule(None)
            await send(message)

        try:
            async with limit:
                await self.app(scope, receive, watched)
        except TimeoutError:
            if not limit.expired() or started:
                raise
            response = _unavailable(
                f"The request ran longer than {self.seconds:g} s and was stopped.",
                TIMEOUT,
                math.ceil(self.seconds),
            )
            await response(scope, receive, send)


def _is_event_stream(start: Message) -> bool:
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"text/event-stream"
    return False


async def database_busy(_request: Request, _exc: Exception) -> JSONResponse:
    """No connection of the pool came free in time (raised wherever a session began)."""
    return _unavailable(
        "The service is busy; try again shortly.", SERVICE_UNAVAILABLE, RETRY_AFTER_BUSY
    )
