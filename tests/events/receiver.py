"""A webhook receiver that is not ours: a small Starlette app under uvicorn on loopback that
answers what the test tells it to and verifies each request with the ``standardwebhooks``
package, as an integrator would."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.notifications import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int
    verified: bool

    @property
    def event(self) -> dict[str, Any]:
        return dict(orjson.loads(self.body))


@dataclass
class Receiver:
    port: int
    secrets: list[str] = field(default_factory=list)  # verified against any of these
    answers: list[int] = field(default_factory=list)  # status codes to answer, in turn
    default: int = 200
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def verify(self, body: bytes, headers: dict[str, str], secret: str) -> bool:
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        verified = any(self.verify(body, headers, secret) for secret in self.secrets)
        status = self.answers.pop(0) if self.answers else self.default
        self.received.append(Received(headers, body, status, verified))
        extra = (
            {"location": f"http://127.0.0.1:{self.port}/elsewhere"}
            if status in (301, 302, 307)
            else {}
        )
        return Response(status_code=status, headers=extra)

    async def elsewhere(self, request: Request) -> Response:
        self.received.append(Received(dict(request.headers), await request.body(), 299, False))
        return Response(status_code=200)

    def delivered(self) -> list[Received]:
        """What the receiver accepted (a 2xx answer), once per webhook-id."""
        seen: dict[str, Received] = {}
        for item in self.received:
            if 200 <= item.answered < 299:
                seen.setdefault(item.headers["webhook-id"], item)
        return list(seen.values())

    def repeats(self) -> Counter[str]:
        return Counter(r.headers["webhook-id"] for r in self.received if 200 <= r.answered < 299)


@contextlib.asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver(free_port())
    app = Starlette(
        routes=[
            Route("/hooks", receiver.hook, methods=["POST"]),
            Route("/elsewhere", receiver.elsewhere, methods=["GET", "POST"]),
        ]
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=receiver.port, log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
