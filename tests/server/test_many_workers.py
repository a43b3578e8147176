"""Nothing depends on which process answers: two `channelbill serve` processes and a `channelbill
worker` on one PostgreSQL database, as a load balancer would spread requests over them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from billing.lifecycle import BillingPolicy, InvoiceLifecycle
from billing.models import InvoiceStatus
from db.database import Database
from db.scope import TenantScope
from documents.models import RenderedDocument
from notifications.emails import Composer
from notifications.models import DeliveryStatus, OutboxMessage
from notifications.outbox import enqueue
from schema.relay import to_global_id
from server.settings import Settings
from tenants.audit import Actor
from tests.billing.drafts import retail_drafts
from tests.catalog import make_catalog
from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD, World
from tests.notifications import SmtpServer, eventually, free_port, make_message

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgresql)]
)

LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { accessToken errors { code } } }"""
INVOICE = "query($id: ID!) { node(id: $id) { ... on Invoice { number downloadUrl(format: PDF) } } }"
WIDE = """{ customers(first: 100) { edges { node { reseller { customers(first: 100) {
  edges { node { id } } } } } } } }"""
GRANT = """mutation($id: ID!, $enabled: Boolean!) {
  setBillingAccess(input: {userId: $id, enabled: $enabled}) { errors { code } } }"""


@dataclass
class Process:
    name: str
    process: asyncio.subprocess.Process
    base_url: str | None = None


def _environment(settings: Settings, smtp: SmtpServer, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "OUTBOX_"))}
    return env | {
        "CHANNELBILL_ENV": "test",
        "CHANNELBILL_SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": settings.database_url,
        "MIGRATION_DATABASE_URL": settings.owner_database_url,
        "MIGRATE_ON_START": "false",
        "CHANNELBILL_DATA_DIR": str(data_dir),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_STARTTLS": "false",
        "OUTBOX_POLL_SECONDS": "0.05",
        "DB_POOL_SIZE": "3",
        # A small, slowly restored cost budget, to see both processes spend the same one.
        "QUERY_COST_LIMIT": "25000",
        "COST_BUDGET": "25000",
        "COST_RESTORE_RATE": "1",
        "PYTHONUNBUFFERED": "1",
    }


async def _start(name: str, args: list[str], env: dict[str, str]) -> Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    return Process(name, process)


async def _ready(server: Process) -> None:
    assert server.base_url is not None
    async with httpx.AsyncClient(base_url=server.base_url) as client:

        async def answers() -> bool:
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(answers, within=60, what=f"{server.name} to answer /readyz")


@pytest.fixture
async def processes(
    settings: Settings, world: World, tmp_path: Path
) -> AsyncIterator[tuple[Process, Process, SmtpServer]]:
    smtp = SmtpServer(free_port())
    smtp.start()
    started: list[Process] = []
    try:
        env = _environment(settings, smtp, tmp_path / "data")
        for name in ("first", "second"):
            port = free_port()
            server = await _start(name, ["serve"], env | {"PORT": str(port)})
            server.base_url = f"http://127.0.0.1:{port}"
            started.append(server)
        started.append(await _start("worker", ["worker"], env))
        for server in started[:2]:
            await _ready(server)
        yield started[0], started[1], smtp
    finally:
        for each in started:
            if each.process.returncode is None:
                each.process.send_signal(signal.SIGTERM)
        for each in started:
            try:
                await asyncio.wait_for(each.process.wait(), timeout=20)
            except TimeoutError:
                each.process.kill()
                await each.process.wait()
        smtp.stop()


async def _gql(base_url: str, query: str, variables: dict, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    return {"status": response.status_code, **response.json()}


async def _posted_invoice(db: Database, world: World) -> str:
    shop = await make_catalog(db)
    [draft] = await retail_drafts(db, world.a.id, world.a.customers[:1], [shop.products["m365"]])
    lifecycle = InvoiceLifecycle(Composer("Billing <billing@platform.example>"), BillingPolicy())
    scope = TenantScope.tenant(world.a.id)
    async with db.write(scope) as session:
        await lifecycle.update_status(
            session, scope, Actor.system(), draft, InvoiceStatus.OPEN, notify=False
        )
    return to_global_id("Invoice", draft)


async def test_any_process_answers_for_any_other(db: Database, world: World, processes):
    first, second, _smtp = processes
    assert first.base_url and second.base_url
    invoice = await _posted_invoice(db, world)
    # given a billing member signed in through the first process
    login = await _gql(
        first.base_url, LOGIN, {"email": "billing-member@alpha.example", "password": PASSWORD}
    )
    token = login["data"]["login"]["accessToken"]
    # then the second process knows the sign-in
    seen = await _gql(second.base_url, INVOICE, {"id": invoice}, token)
    assert seen["data"]["node"]["number"].startswith("ALP")
    # and a PDF drawn by the second is served, as kept, by the first
    async with httpx.AsyncClient(timeout=60) as client:
        link = seen["data"]["node"]["downloadUrl"]
        assert link.startswith(second.base_url)
        drawn = await client.get(link)
        assert drawn.status_code == 200 and drawn.content.startswith(b"%PDF")
        async with db.read(TenantScope.system()) as session:
            kept = (await session.scalars(select(RenderedDocument))).one()
        again = await _gql(first.base_url, INVOICE, {"id": invoice}, token)
        link = again["data"]["node"]["downloadUrl"]
        assert link.startswith(first.base_url)
        served = await client.get(link)
    assert served.content == drawn.content
    async with db.read(TenantScope.system()) as session:
        still = (await session.scalars(select(RenderedDocument))).one()
    assert (still.id, still.created_at) == (kept.id, kept.created_at)  # not drawn again
    # when the owner revokes the member's billing access through the first process
    owner = world.token("owner", world.a)
    member = to_global_id("User", world.a.users["billing_member"])
    revoked = await _gql(first.base_url, GRANT, {"id": member, "enabled": False}, owner)
    assert revoked["data"]["setBillingAccess"]["errors"] == []
    # then the second refuses the member's very next request
    refused = await _gql(second.base_url, INVOICE, {"id": invoice}, token)
    assert refused["data"]["node"] is None
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["BILLING_ACCESS_REQUIRED"]


async def test_each_queued_email_is_sent_once_by_three_dispatchers(db: Database, processes):
    # given two servers and a worker, each running a dispatcher, and 40 queued emails
    _first, _second, smtp = processes
    async with db.write(TenantScope.system()) as session:
        for n in range(40):
            enqueue(session, make_message(subject=f"message {n}"), event="test", reseller_id=None)
    # then every one arrives, and none twice

    async def all_arrived() -> bool:
        return len(smtp.inbox.messages()) >= 40

    await eventually(all_arrived, within=60, what="40 emails to arrive")
    await asyncio.sleep(1)  # time for a duplicate to show up, if there were one
    ids = smtp.inbox.message_ids()
    assert len(ids) == 40 and set(ids.values()) == {1}
    async with db.read(TenantScope.system()) as session:
        sent = await session.scalar(
            select(func.count()).where(OutboxMessage.status == DeliveryStatus.SENT)
        )
    assert sent == 40


async def test_limits_are_counted_once_for_all_processes(world: World, processes):
    first, second, _smtp = processes
    assert first.base_url and second.base_url
    # given a caller whose one query spends more than half of its reseller's budget
    member = world.token("member", world.a)
    spent = await _gql(first.base_url, WIDE, {}, member)
    assert spent["status"] == 200 and "errors" not in spent, spent
    assert 12_500 < spent["extensions"]["cost"]["requestedQueryCost"] <= 25_000
    # when it asks the other process for the same
    refused = await _gql(second.base_url, WIDE, {}, member)
    # then the other process knows the budget is spent
    assert refused["status"] == 429, refused
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["RATE_LIMITED"]
    # and another reseller's budget is its own
    assert (await _gql(second.base_url, WIDE, {}, world.token("member", world.b)))["status"] == 200

    # given wrong passwords for one account, sent to both processes in turn
    codes = []
    for attempt in range(8):
        server = first if attempt % 2 == 0 else second
        assert server.base_url
        answer = await _gql(
            server.base_url, LOGIN, {"email": "owner@alpha.example", "password": "wrong!"}
        )
        codes += [e["code"] for e in answer["data"]["login"]["errors"]]
    # then the back-off counted them together: five free guesses, then waiting, at either
    # (counted per process, all eight would be free). The first wait is a second, which a
    # loaded machine may outlast between two requests: a guess past it is let through again.
    assert codes[:5] == ["INVALID_CREDENTIALS"] * 5
    assert "RATE_LIMITED" in codes[5:]
