"""Event streams (issue: events per second delivered to 100 concurrent subscribers): the app in
a uvicorn process of its own, SUBSCRIBERS WebSocket clients (graphql-transport-ws, in this
process) subscribed to the OWNER's events, and a producer creating customers through the API,
a few requests at a time: each commit is an event every subscriber must receive, once, in order.

Reported: events the producer committed per second, events delivered per second (all
subscribers together) over the same time, and the latency from a mutation's answer to each
subscriber's receipt (p50 / p99). Every subscriber must end with exactly the events created, in
the order of the log, or the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass, field

import httpx
import websockets

from db.database import Database

from . import page_query
from .harness import Report, Target, median, number

NAME = "streams"
TITLE = "Event streams"
HOST = page_query.HOST
SUBSCRIBE = 'subscription { events(types: ["customer.created"]) { id objectId } }'
CREATE = """mutation($name: String!) { createCustomer(input: {name: $name, email: "x@bench.example",
  currency: "EUR"}) { customer { id } errors { code } } }"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subscribers", type=int, default=100, help="streams: subscribers (default 100)"
    )
    parser.add_argument(
        "--stream-events", type=int, default=200, help="streams: events per repeat (default 200)"
    )
    parser.add_argument(
        "--stream-producers",
        type=int,
        default=4,
        help="streams: mutations in flight at once (default 4)",
    )


@dataclass
class Subscriber:
    received: list[tuple[str, float]] = field(default_factory=list)  # (object id, when)


async def subscribe(port: int, token: str, subscriber: Subscriber, ready: asyncio.Event) -> None:
    async with websockets.connect(
        f"ws://{HOST}:{port}/graphql", subprotocols=["graphql-transport-ws"], max_queue=None
    ) as ws:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        ready.set()
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") != "next":
                raise RuntimeError(f"unexpected message: {message}")
            event = message["payload"]["data"]["events"]
            subscriber.received.append((event["objectId"], time.monotonic()))


async def produce(
    url: str, token: str, count: int, concurrency: int
) -> tuple[list[tuple[str, float]], float]:
    """The customers created (global id, when the answer came) and the seconds it took."""
    made: list[tuple[str, float]] = []
    names = iter(range(count))
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def worker() -> None:
            for n in names:
                body = {"query": CREATE, "variables": {"name": f"Bench {n} {secrets.token_hex(3)}"}}
                answer = (await client.post("/graphql", json=body, headers=headers)).json()
                payload = answer["data"]["createCustomer"]
                if payload["errors"]:
                    raise RuntimeError(f"createCustomer: {payload['errors']}")
                made.append((payload["customer"]["id"], time.monotonic()))

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return made, time.monotonic() - started


@dataclass(frozen=True)
class Round:
    produced_per_s: float
    delivered_per_s: float
    latencies: list[float]


async def one_round(port: int, token: str, options: argparse.Namespace) -> Round:
    subscribers = [Subscriber() for _ in range(options.subscribers)]
    readies = [asyncio.Event() for _ in subscribers]
    tasks = [
        asyncio.create_task(subscribe(port, token, s, r))
        for s, r in zip(subscribers, readies, strict=True)
    ]
    url = f"http://{HOST}:{port}"
    try:
        await _all_ready(readies, tasks)
        # A stream "from now" starts where the log is when the server has read it: an event
        # every second until every subscriber has had one says they all run.
        deadline = time.monotonic() + 60
        while not all(s.received for s in subscribers):
            if time.monotonic() > deadline:
                raise TimeoutError("the subscriptions did not start within 60 s")
            await produce(url, token, 1, 1)
            await asyncio.sleep(1)
        await asyncio.sleep(1)  # the last marker delivered everywhere
        before = [len(s.received) for s in subscribers]
        started = time.monotonic()
        made, seconds = await produce(url, token, options.stream_events, options.stream_producers)
        wanted = {object_id for object_id, _ in made}
        burst: list[list[tuple[str, float]]] = []
        deadline = time.monotonic() + 120
        while True:
            burst = [s.received[n:] for s, n in zip(subscribers, before, strict=True)]
            if all(len(b) >= len(wanted) for b in burst):
                break
            if time.monotonic() > deadline:
                counts = sorted(len(b) for b in burst)
                raise TimeoutError(
                    f"not delivered within 120 s: {len(made)} events; subscribers got"
                    f" {counts[0]} to {counts[-1]} (median {counts[len(counts) // 2]})"
                )
            await asyncio.sleep(0.05)
        finished = max(b[-1][1] for b in burst)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    created_at = dict(made)
    latencies: list[float] = []
    for got in burst:
        ids = [object_id for object_id, _ in got]
        if len(ids) != len(wanted) or set(ids) != wanted:
            raise AssertionError("a subscriber missed an event or got one twice")
        latencies += [when - created_at[object_id] for object_id, when in got]
    deliveries = len(subscribers) * len(made)
    return Round(len(made) / seconds, deliveries / (finished - started), latencies)


async def _all_ready(readies: list[asyncio.Event], tasks: list[asyncio.Task[None]]) -> None:
    """Every subscriber subscribed; a subscriber that failed first raises its error."""
    waiting = asyncio.ensure_future(asyncio.gather(*(r.wait() for r in readies)))
    done, _ = await asyncio.wait([waiting, *tasks], timeout=60, return_when="FIRST_COMPLETED")
    for task in done:
        if task is not waiting:
            task.result()  # raises what ended it
    if waiting not in done:
        waiting.cancel()
        raise TimeoutError("the subscribers did not subscribe within 60 s")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def measure(target: Target, options: argparse.Namespace) -> Report:
    db = Database(target.url, pool_size=2)
    try:
        seeded = await page_query.seed(db)
    finally:
        await db.dispose()
    secret = secrets.token_urlsafe(48)
    token = await page_query.sign_in(target, secret)
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="channelbill-streams-") as folder:
        config = page_query.Config(
            target.url, target.owner_url, str(seeded.reseller_id), secret, folder
        )
        async with page_query.running("app-streams", config, folder) as server:
            for _ in range(options.repeat):
                rounds.append(await one_round(server.port, token, options))
    latencies = [value for r in rounds for value in r.latencies]
    return Report(
        row={
            "events committed/s": number(median([r.produced_per_s for r in rounds]), 1),
            "deliveries/s": number(median([r.delivered_per_s for r in rounds])),
            "latency p50/p99 ms": "/".join(
                f"{_percentile(latencies, share) * 1000:.0f}" for share in (0.5, 0.99)
            ),
            "mean latency ms": f"{statistics.fmean(latencies) * 1000:.0f}",
        },
        facts={
            "load": (
                f"{options.subscribers} subscribers on one server process (graphql-transport-ws),"
                f" {options.stream_events} customers created a repeat,"
                f" {options.stream_producers} mutations at a time; every subscriber got every"
                " event once"
            ),
        },
    )
