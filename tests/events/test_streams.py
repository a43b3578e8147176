"""GraphQL subscriptions against real servers: `channelbill serve` processes (two on one
PostgreSQL database; one on SQLite), driven by gql's WebSocket transport (graphql-transport-ws)
and by plain HTTP for GraphQL over SSE.

- an event committed through one process reaches a subscriber of the other within a second;
- a subscriber that drops and resumes from its last event's id misses nothing, in order;
- who may subscribe and see what: nobody is refused, a member without billing access sees no
  billing event, another reseller's events never arrive, a query over WebSocket is refused,
  and signing out ends the stream;
- the same stream over SSE, past the request time limit.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportConnectionFailed, TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.browser.conftest import DEMO_PASSWORD, LiveServer, _serving
from tests.conftest import Postgres, empty_database

LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { accessToken errors { code } } }"""
CREATE_CUSTOMER = """mutation($name: String!) {
  createCustomer(input: {name: $name, email: "ap@stream.example", currency: "EUR"}) {
    customer { id name } errors { code message } } }"""
POST_INVOICE = """mutation($id: ID!) { updateInvoiceStatus(input: {invoiceId: $id, status: OPEN}) {
  invoice { id status } errors { code message } } }"""
DRAFTS = "{ invoices(first: 5, filter: {status: [DRAFT]}) { edges { node { id } } } }"
LOGOUT = "mutation { logout { errors { code } } }"
INVOICE_CHANGED = "subscription($id: ID!) { invoiceChanged(id: $id) { id status number } }"
EVENTS = """subscription($types: [String!], $after: ID) {
  events(types: $types, after: $after) { id type objectId payload } }"""
DELIVERY_S = 1.0  # the bound: committed in one process, received in another
WAIT_S = 15.0  # at most, for anything in these tests


@pytest.fixture
def servers(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two processes on one PostgreSQL database, or the one SQLite server twice."""
    with ExitStack() as stack:
        if backend == "sqlite":
            live = stack.enter_context(_serving(tmp_path_factory))
            yield live, live
            return
        pg: Postgres = request.getfixturevalue("postgres")
        asyncio.run(empty_database(pg))
        shared = {  # one database and one signing key: a token works on both
            "DATABASE_URL": pg.app_url,
            "MIGRATION_DATABASE_URL": pg.owner_url,
            "CHANNELBILL_SECRET_KEY": secrets.token_urlsafe(48),
        }
        first = stack.enter_context(_serving(tmp_path_factory, **shared))
        second = stack.enter_context(
            _serving(tmp_path_factory, **shared, CHANNELBILL_SEED_DEMO="0")
        )
        yield first, second


async def post(server: LiveServer, query: str, variables: dict[str, Any], token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def sign_in(server: LiveServer, email: str) -> str:
    data = await post(server, LOGIN, {"email": email, "password": DEMO_PASSWORD}, None)
    assert data["login"]["errors"] == [], data
    return str(data["login"]["accessToken"])


async def create_customer(server: LiveServer, token: str, name: str) -> str:
    data = await post(server, CREATE_CUSTOMER, {"name": name}, token)
    assert data["createCustomer"]["errors"] == [], data
    return str(data["createCustomer"]["customer"]["id"])


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


@asynccontextmanager
async def subscribed(
    server: LiveServer,
    token: str | None,
    variables: dict[str, Any] | None = None,
    document: str = EVENTS,
) -> AsyncIterator[asyncio.Queue[Any]]:
    """The results (or the error that ended the stream) as they come, in a queue."""
    transport = WebsocketsTransport(
        url=ws_url(server),
        init_payload={"Authorization": f"Bearer {token}"} if token else {},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    received: asyncio.Queue[Any] = asyncio.Queue()
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:

        async def listen() -> None:
            try:
                request = gql(document)
                request.variable_values = variables
                async for result in session.subscribe(request):
                    await received.put(next(iter(result.values())))
            except Exception as error:
                await received.put(error)

        task = asyncio.create_task(listen())
        await asyncio.sleep(0.3)  # subscribed (the stream starts after the log's head)
        try:
            yield received
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def next_of(received: asyncio.Queue[Any], seconds: float = WAIT_S) -> Any:
    return await asyncio.wait_for(received.get(), timeout=seconds)


async def nothing_more(received: asyncio.Queue[Any], seconds: float = 1.5) -> None:
    await asyncio.sleep(seconds)
    assert received.empty(), received.get_nowait()


async def test_an_event_reaches_a_subscriber_of_another_process_and_a_resume_misses_nothing(
    servers: tuple[LiveServer, LiveServer],
):
    first, second = servers
    token = await sign_in(first, "owner@acme.example")
    types = {"types": ["customer.created"]}
    async with subscribed(first, token, types) as received:
        # when a customer is created through the other process
        started = time.monotonic()
        created = await create_customer(second, token, "Stream One")
        event = await next_of(received)
        latency = time.monotonic() - started
        # then the subscriber of the first gets its event, within a second
        assert event["type"] == "customer.created"
        assert event["objectId"] == created
        assert event["payload"]["name"] == "Stream One"
        assert latency < DELIVERY_S, f"{latency:.2f} s"
        await nothing_more(received, 0.5)
    # while nobody listens, two more
    later = [await create_customer(second, token, f"Stream {n}") for n in ("Two", "Three")]
    # a subscriber resuming after the last event it had gets both, in order, and nothing else
    async with subscribed(first, token, {**types, "after": event["id"]}) as received:
        resumed = [await next_of(received), await next_of(received)]
        assert [e["objectId"] for e in resumed] == later
        await nothing_more(received)


async def test_who_subscribes_sees_only_what_it_may(servers: tuple[LiveServer, LiveServer]):
    first, second = servers
    owner = await sign_in(first, "owner@acme.example")
    member = await sign_in(first, "member@acme.example")
    other_tenant = await sign_in(first, "owner@globex.example")
    # nobody, or a token that is not one: the connection is closed with 4403 (Forbidden)
    for token in (None, "not-a-token"):
        with pytest.raises(TransportConnectionFailed) as refused:
            async with subscribed(first, token) as received:
                await next_of(received, 5)
        assert refused.value.__cause__.rcvd.code == 4403  # type: ignore[union-attr]
    draft = (await post(second, DRAFTS, {}, owner))["invoices"]["edges"][0]["node"]["id"]
    watched = {"id": draft}
    async with (
        subscribed(first, member) as members,
        subscribed(first, other_tenant) as others,
        subscribed(first, owner, {"types": ["invoice.posted"]}) as owners,
        subscribed(first, owner, watched, INVOICE_CHANGED) as invoice,
        subscribed(first, member, watched, INVOICE_CHANGED) as members_invoice,
        subscribed(first, other_tenant, watched, INVOICE_CHANGED) as others_invoice,
    ):
        # the invoice as it is now; a member (no billing access) and Globex are refused it
        assert (await next_of(invoice))["status"] == "DRAFT"
        for refused, code in (
            (members_invoice, "BILLING_ACCESS_REQUIRED"),
            (others_invoice, "NOT_FOUND"),
        ):
            error = await next_of(refused)
            assert isinstance(error, TransportQueryError), error
            assert error.errors and error.errors[0]["extensions"]["code"] == code, error.errors
        # a billing event and another one of Acme
        posted = await post(second, POST_INVOICE, {"id": draft}, owner)
        assert posted["updateInvoiceStatus"]["errors"] == [], posted
        customer = await create_customer(second, owner, "Seen By Members")
        # the owner sees the posting, and the invoice again, posted; the member only the
        # customer (no billing access)
        assert (await next_of(owners))["type"] == "invoice.posted"
        changed = await next_of(invoice)
        assert (changed["id"], changed["status"], changed["number"] is not None) == (
            draft,
            "OPEN",
            True,
        )
        seen = [await next_of(members)]
        await nothing_more(members)
        assert [(e["type"], e["objectId"]) for e in seen] == [("customer.created", customer)]
        # Globex sees nothing of Acme
        await nothing_more(others, 0.1)


async def test_signing_out_ends_the_stream_and_queries_go_over_http(
    servers: tuple[LiveServer, LiveServer],
):
    first, second = servers
    token = await sign_in(first, "owner@acme.example")
    transport = WebsocketsTransport(
        url=ws_url(first),
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        with pytest.raises(TransportQueryError, match="only subscriptions go over WebSocket"):
            await session.execute(gql("{ viewer { kind } }"))
    async with subscribed(first, token) as received:
        await post(second, LOGOUT, {}, token)
        await create_customer(second, await sign_in(second, "owner@acme.example"), "After")
        ended = await next_of(received)
        assert isinstance(ended, TransportQueryError), ended
        assert ended.errors and ended.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_same_stream_over_server_sent_events(servers: tuple[LiveServer, LiveServer]):
    first, second = servers
    token = await sign_in(first, "owner@acme.example")
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    body = {"query": EVENTS, "variables": {"types": ["customer.created"]}}
    name = f"Over SSE {uuid.uuid4().hex[:6]}"
    async with (
        httpx.AsyncClient(base_url=first.url, timeout=WAIT_S) as client,
        client.stream("POST", "/graphql", json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        await asyncio.sleep(0.3)
        created = await create_customer(second, token, name)
        event = await asyncio.wait_for(_next_sse(response.aiter_lines()), timeout=WAIT_S)
    assert event["data"]["events"]["objectId"] == created
    assert event["data"]["events"]["payload"]["name"] == name


async def _next_sse(lines: AsyncIterator[str]) -> Any:
    """The data of the next `event: next` of a GraphQL over SSE stream."""
    kind = None
    async for line in lines:
        if line.startswith("event:"):
            kind = line.partition(":")[2].strip()
        elif line.startswith("data:") and kind == "next":
            return json.loads(line.partition(":")[2])
    raise AssertionError("the stream ended")
