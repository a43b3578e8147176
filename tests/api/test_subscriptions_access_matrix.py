"""The subscriptions as every caller of the access matrix (test_access_matrix), over GraphQL over
SSE on a real socket: uvicorn serves the test's app on loopback. A refused subscription answers
its code; an allowed one is open once it sends its first item (``invoiceChanged``: the invoice at
once) or, for ``events``, once its stream waits for the tenant's next event in this process.
What each caller then sees is tests/events/test_streams.py's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import update
from starlette.applications import Starlette

from db.database import Database
from db.scope import TenantScope
from events.feed import HUB
from tenants.models import AccountStatus, Reseller
from tests.api.test_access_matrix import CALLERS, UNAUTH, gid, token
from tests.api.test_billing_access_matrix import BILLING_READERS, Billing, billing  # noqa: F401
from tests.notifications import free_port

WAIT_S = 15.0
EVENTS = "subscription { events { id type } }"
INVOICE_CHANGED = "subscription($id: ID!) { invoiceChanged(id: $id) { id status } }"

SUBSCRIPTIONS: dict[str, tuple[str, Any, dict[str, str]]] = {
    # Every reseller's caller follows its own part of the log; a platform admin has no tenant's.
    "events": (EVENTS, lambda b: {}, {**UNAUTH, "platform": "FORBIDDEN", "*": "ok"}),
    "invoiceChanged": (
        INVOICE_CHANGED,
        lambda b: {"id": gid("Invoice", b.invoice_id)},
        # the invoice is A's first customer's draft: not the portal's to see
        {**BILLING_READERS, "portal": "NOT_FOUND", "platform": "FORBIDDEN"},
    ),
}


@pytest.fixture
async def served(app: Starlette) -> AsyncIterator[str]:
    """The app (already started by its fixture) on a loopback port."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _first_answer(response: httpx.Response) -> str:
    """The code of the stream's first error, or "ok" for a first item without one."""
    if not response.headers["content-type"].startswith("text/event-stream"):
        body = json.loads(await response.aread())
        return _outcome(body)
    kind = None
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            kind = line.partition(":")[2].strip()
        elif line.startswith("data:") and kind == "next":
            return _outcome(json.loads(line.partition(":")[2]))
        elif kind == "complete":
            break
    raise AssertionError("the stream ended without an answer")


def _outcome(body: dict[str, Any]) -> str:
    errors = body.get("errors") or []
    if errors:
        return str(errors[0].get("extensions", {}).get("code"))
    assert body.get("data"), body
    return "ok"


async def _waiting(streams_before: int) -> str:
    while HUB.streams() <= streams_before:  # noqa: ASYNC110  (the hub has no event for it)
        await asyncio.sleep(0.01)
    return "ok"


async def subscribe(url: str, document: str, variables: dict[str, Any], who: str | None) -> str:
    """How a subscription over SSE starts: its first answer, or "ok" once it waits."""
    headers = {"Accept": "text/event-stream"}
    if who is not None:
        headers["Authorization"] = f"Bearer {who}"
    before = HUB.streams()
    body = {"query": document, "variables": variables}
    async with (
        httpx.AsyncClient(base_url=url, timeout=WAIT_S) as client,
        client.stream("POST", "/graphql", json=body, headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        answered = asyncio.ensure_future(_first_answer(response))
        waiting = asyncio.ensure_future(_waiting(before))
        done, pending = await asyncio.wait(
            {answered, waiting}, timeout=WAIT_S, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        assert done, "the subscription neither answered nor started"
        return done.pop().result()


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("operation", SUBSCRIPTIONS)
async def test_subscription_access(
    served: str,
    billing: Billing,  # noqa: F811
    operation: str,
    caller: str,
):
    document, variables, expected = SUBSCRIPTIONS[operation]
    got = await subscribe(served, document, variables(billing), token(billing.world, caller))
    assert got == expected.get(caller, expected["*"])


@pytest.mark.parametrize("operation", SUBSCRIPTIONS)
async def test_a_deactivated_resellers_users_cannot_subscribe(
    served: str,
    db: Database,
    billing: Billing,  # noqa: F811
    operation: str,
):
    async with db.write(TenantScope.system()) as session:
        await session.execute(
            update(Reseller)
            .where(Reseller.id == billing.a.id)
            .values(status=AccountStatus.DEACTIVATED)
        )
    document, variables, _ = SUBSCRIPTIONS[operation]
    for caller in ("owner", "billing_manager", "client_all"):
        who = token(billing.world, caller)
        got = await subscribe(served, document, variables(billing), who)
        assert got == "ACCOUNT_DEACTIVATED", caller
