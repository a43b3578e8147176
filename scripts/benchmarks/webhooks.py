"""Events delivered to webhooks per second: the real job runner and WebhookSender POSTing
signed deliveries to a receiver on loopback (a process of its own: uvicorn and Starlette, each
request verified with the ``standardwebhooks`` package, as an integrator would), against the
ceiling of the same receiver hit by a bare client with the same bodies and headers.

N ``customer.created`` events are recorded (through ``events.record``, in one transaction, so
each queues its delivery and job as a change does) for one reseller whose endpoint takes that
type; the clock runs from the runner's first claim until every delivery is SUCCEEDED. Every
delivery must arrive verified and exactly once (by ``webhook-id``): the counts are checked and
printed. In order per endpoint, so one endpoint's deliveries are one after another: this is the
rate of one endpoint, one worker.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import time
from typing import Any

import httpx
from sqlalchemy import func, select

from core.ids import new_id
from db.database import Database
from db.scope import TenantScope
from events import log as events
from events.models import Event, WebhookDelivery, WebhookDeliveryStatus
from jobs.runner import JobRunner
from notifications.emails import Composer
from tenants import services
from tenants.audit import Actor
from webhooks.delivery import WebhookSender, body_of
from webhooks.endpoints import Webhooks
from webhooks.sealed import SecretBox
from webhooks.signing import headers

from .harness import Report, Target, median, number, spread, timed

NAME = "webhooks"
TITLE = "Events delivered to webhooks"
KEY = "benchmark-server-key-0123456789abcdef"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(NAME)
    group.add_argument(
        "--events", type=int, default=1000, help="events delivered per measurement (1000)"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _receive(port: int, secret: str, counts: Any, ready: Any) -> None:
    """The receiver process: verify each POST, count it and its webhook-id."""
    import uvicorn
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    verifier = Webhook(secret)
    seen: set[str] = set()

    async def hook(request: Request) -> Response:
        body = await request.body()
        try:
            verifier.verify(body, dict(request.headers))
        except WebhookVerificationError:
            counts[2] += 1
            return Response(status_code=400)
        message_id = request.headers["webhook-id"]
        if message_id in seen:
            counts[1] += 1
        seen.add(message_id)
        counts[0] += 1
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hooks", hook, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    ready.set()
    server.run()


async def _listening(port: int) -> None:
    """Until the receiver accepts connections (uvicorn binds after the process is ready)."""
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError("the receiver does not listen")


async def _record(db: Database, reseller_id: Any, count: int) -> None:
    async with db.write(TenantScope.tenant(reseller_id)) as session:
        for n in range(count):
            await events.record(
                session,
                "customer.created",
                reseller_id=reseller_id,
                object_type="Customer",
                object_id=new_id(),
                payload={"name": f"Customer {n}", "email": f"c{n}@bench.example"},
            )


async def _delivered(db: Database) -> int:
    async with db.read(TenantScope.system()) as session:
        return int(
            await session.scalar(
                select(func.count()).where(
                    WebhookDelivery.status == WebhookDeliveryStatus.SUCCEEDED
                )
            )
            or 0
        )


async def _bare(db: Database, url: str, secret: str, count: int) -> float:
    """The ceiling: the same signed bodies POSTed one after another by one client."""
    async with db.read(TenantScope.system()) as session:
        rows = list(await session.scalars(select(Event).limit(count)))
    bodies = [body_of(row) for row in rows]

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            for body in bodies:
                signed = headers([secret], f"bare_{new_id().hex}", int(time.time()), body)
                await client.post(url, content=body, headers=signed)

    seconds, _ = await timed(run)
    return seconds / max(len(rows), 1) * count


async def measure(target: Target, options: argparse.Namespace) -> Report:
    count = options.events
    db = Database(target.url, pool_size=4)
    box = SecretBox(KEY)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    context = multiprocessing.get_context("spawn")
    counts = context.Array("i", 3)  # delivered, repeats, refused by the verifier
    ready = context.Event()
    walls: list[float] = []
    bare: list[float] = []
    receiver = None
    try:
        async with db.write(TenantScope.system()) as session:
            reseller, _ = await services.create_reseller(
                session,
                services.NewReseller(
                    name="Bench",
                    currency="EUR",
                    slug="bench",
                    owner_email="o@bench.example",
                    owner_name="Bench Owner",
                ),
            )
        scope = TenantScope.tenant(reseller.id)
        async with db.write(scope) as session:
            _, secret = await Webhooks(box, allow_private=True).create(
                session, scope, Actor.system(), url, ["customer.created"]
            )
        receiver = context.Process(target=_receive, args=(port, secret, counts, ready), daemon=True)
        receiver.start()
        if not ready.wait(30):
            raise RuntimeError("the receiver did not start")
        await _listening(port)
        sender = WebhookSender(db, box, Composer("b@bench.example"), allow_private=True)
        runner = JobRunner(db, sender.handlers(), batch_size=50)
        for _ in range(options.repeat):
            before = await _delivered(db)
            await _record(db, reseller.id, count)
            seconds, _ = await timed(runner.run_due)
            while await _delivered(db) < before + count:  # rounds of run_due stop at 100
                extra, worked = await timed(runner.run_due)
                if worked == 0:
                    raise AssertionError("deliveries failed: see the log (is the receiver up?)")
                seconds += extra
            walls.append(seconds)
            bare.append(await _bare(db, url, secret, count))
    finally:
        await db.dispose()
        if receiver is not None and receiver.pid is not None:
            receiver.terminate()
            receiver.join(10)
    total = count * len(walls)
    delivered, repeats, refused = counts[0], counts[1], counts[2]
    wall = median(walls)
    ceiling = median(bare)
    return Report(
        row={
            "events/s": number(count / wall),
            "ms per event": f"{wall / count * 1000:.2f}",
            "bare POST/s": number(count / ceiling),
            "delivery / bare POST": f"{wall / ceiling:.1f}x",
            "s min-max": spread(walls),
        },
        facts={
            "events per measurement": f"{count:,} customer.created, one endpoint, one worker",
            "receiver": "uvicorn + Starlette in a process of its own, standardwebhooks verify",
            "arrived verified": (
                f"{delivered:,} of {2 * total:,} (deliveries and bare POSTs);"
                f" webhook-ids repeated: {repeats}, refused by the verifier: {refused}"
            ),
        },
    )
