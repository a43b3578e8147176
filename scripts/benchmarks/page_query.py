"""Page query (quality.md, Performance, items 1 and 2): the invoices connection, pages of 10, 50
and 100 invoices with their lines, over HTTP on loopback, against two baselines started in the
same run.

- app: the real application (``server.app.create_app``), authenticated as the reseller's OWNER;
- app compiled off: the same with GRAPHQL_COMPILED=false (no generated builders: graphql-core's
  executor with plain fields read directly);
- app off: the same with GRAPHQL_FAST_PATH=false (graphql-core's executor as it is);
- peer: a straightforward strawberry + SQLAlchemy ORM implementation of the same query (default
  settings, ``selectinload`` for the lines, no DataLoaders), its minimal schema defined here on
  the project's models;
- ceiling: a hand-written Starlette endpoint running the same two statements (the page, then its
  lines) through SQLAlchemy Core, answering the same JSON with orjson;
- ceiling + caller: the same, also doing what the app must do on every request and the ceiling
  leaves out: the bearer token verified and the caller's row read afresh (in one Core statement,
  in the page's transaction). The app cannot beat it without caching the caller.

Each runs in a uvicorn process of its own (one worker, loopback), so that the load generator, an
asyncio client in this process on raw keep-alive HTTP/1.1 connections, does not share a GIL with
it. All three must answer the same data before anything is measured, and every answer measured
must be byte for byte the one checked. Each repeat measures, per server, 1 and 32 connections for
a fixed time after a warm-up; then the generator itself against a trivial endpoint (``ping``).
Medians are quoted; ratios are taken within each repeat, side by side.

The SELECTs the app runs per request (item 2) are counted in this process, for pages of 10, 50
and 100, as tests/api/test_billing_flow.py counts them.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import enum
import json
import os
import random
import re
import secrets
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import orjson
import strawberry
from sqlalchemy import and_, bindparam, event, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import relationship, selectinload
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.asgi import GraphQL

from auth.models import RefreshToken
from auth.passwords import hash_password
from auth.sessions import Authenticator, TokenPolicy
from auth.tokens import USER_AUDIENCE, InvalidToken, TokenSigner
from billing.catalog import Catalog, NewPrice, NewProduct
from billing.generation import BillingRun, RunRequest
from billing.lifecycle import BillingPolicy, InvoiceLifecycle
from billing.models import Invoice, InvoiceKind, InvoiceLine, InvoiceStatus, ProductKind
from billing.subscriptions import NewSubscription, create_subscription
from core.currency import minor_units
from db.database import Database
from db.scope import TenantScope
from notifications.emails import Composer
from schema.relay import to_global_id
from server.app import create_app
from server.settings import Settings
from tenants import services
from tenants.audit import Actor
from tenants.models import AccountStatus, Reseller, User, UserStatus

from .harness import Report, Target, median, number

NAME = "page"
TITLE = "Page query"
PAGE_SIZE = 50
SIZES = (10, 50, 100)
CONNECTIONS = (1, 32)
SERVERS = ("app", "app-uncompiled", "app-off", "peer", "ceiling", "ceiling-caller")
CUSTOMERS = 120  # one invoice of five lines each: a full page of 100, and more after it
PERIOD = (date(2026, 11, 1), date(2026, 11, 30))
HOST = "127.0.0.1"
SCRIPTS = Path(__file__).resolve().parents[1]
POOL_SIZE = 10  # the app's default (DB_POOL_SIZE); the baselines get the same
TOKEN_TTL = 6 * 3600
PR_SET_PDEATHSIG = 1
CONFIG_ENV = "CHANNELBILL_BENCH_PAGE"
OWNER_EMAIL = "owner@bench.example"
OWNER_PASSWORD = "bench-owner-password"  # noqa: S105 (a throwaway database's)
SEEDED = ("customers", "subscriptions", "invoices", "invoice_lines", "invoice_charges", "users")

QUERY = """query Page($first: Int) { invoices(first: $first) { edges { node {
  id number status total { amount currency } amountDue { amount } issuedAt dueDate
  buyer { name }
  lines { description quantity unitPrice { amount } amount { amount } } } } } }"""

# name: sku, base currency, [(currency, msrp, cost)]; every customer subscribes to all five, so
# each invoice has five lines. Teams is priced in USD only (EUR customers pay a converted MSRP);
# Defender's price has a third decimal (shown exactly as a unit price).
PRODUCTS = {
    "m365": ("MS-M365-BP", "USD", [("USD", "22.00", "17.60"), ("EUR", "20.60", "16.50")]),
    "teams": ("MS-TEAMS-ESS", "USD", [("USD", "4.00", "3.20")]),
    "visio": ("MS-VISIO-P2", "EUR", [("EUR", "12.00", "9.60")]),
    "copilot": ("MS-COPILOT", "USD", [("USD", "30.00", "24.00"), ("EUR", "28.10", "22.50")]),
    "defender": ("MS-DEFENDER-P1", "EUR", [("EUR", "2.345", "1.80")]),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--page-seconds",
        type=float,
        default=5.0,
        help="page: seconds of load per server and number of connections (default 5)",
    )
    parser.add_argument(
        "--page-warmup",
        type=float,
        default=1.0,
        help="page: seconds of unmeasured load per server before each repeat (default 1)",
    )
    parser.add_argument(
        "--page-size",
        type=int,
        nargs="+",
        choices=SIZES,
        default=list(SIZES),
        help="page: invoices per page under load, each measured in turn (default 10 50 100)",
    )


@dataclass(frozen=True)
class Config:
    """What a server process needs: passed to it as JSON in its environment (CONFIG_ENV)."""

    url: str
    owner_url: str
    reseller_id: str
    secret_key: str
    data_dir: str


@dataclass(frozen=True)
class Seeded:
    reseller_id: uuid.UUID
    owner_id: uuid.UUID
    invoices: int


async def seed(db: Database) -> Seeded:
    """One reseller whose OWNER is active, a vendor of five products, CUSTOMERS customers
    subscribed to all five (every 7th subscription starts within the month: prorated), one
    billing run; then every other invoice is posted, and every tenth posted one settled."""
    rng = random.Random(20261130)  # noqa: S311 (test data, not secrets)
    async with db.write(TenantScope.system()) as session:
        reseller, owner = await services.create_reseller(
            session,
            services.NewReseller(
                name="Bench Reseller",
                currency="EUR",
                slug="bench",
                owner_email=OWNER_EMAIL,
                owner_name="Bench Owner",
            ),
        )
        owner.status = UserStatus.ACTIVE
        owner.password_hash = hash_password(OWNER_PASSWORD)
        catalog = Catalog(session)
        vendor = await catalog.create_vendor("Microsoft")
        products = []
        for name, (sku, base, prices) in PRODUCTS.items():
            product = await catalog.create_product(
                NewProduct(
                    vendor_id=vendor.id,
                    sku=sku,
                    name=f"Bench {name.title()}",
                    unit="seat",
                    kind=ProductKind.RECURRING,
                    base_currency=base,
                    prices=[NewPrice(c, Decimal(m), Decimal(k)) for c, m, k in prices],
                )
            )
            products.append(product.id)
        await catalog.set_exchange_rate("USD", "EUR", Decimal("0.9"), date(2026, 1, 1))
    reseller_id, owner_id = reseller.id, owner.id
    scope = TenantScope.tenant(reseller_id)
    async with db.write(scope) as session:
        n = 0
        for c in range(CUSTOMERS):
            customer = await services.create_customer(
                session,
                scope,
                services.NewCustomer(
                    name=f"Customer {c + 1:04d}",
                    email=f"billing@customer-{c + 1:04d}.example",
                    currency="EUR",
                    tax_rate=Decimal(19) if c % 10 else Decimal(0),
                ),
            )
            for product_id in products:
                n += 1
                start = date(2026, 11, 1 + n % 28) if n % 7 == 0 else date(2025, 1, 1)
                await create_subscription(
                    session,
                    scope,
                    NewSubscription(customer.id, product_id, rng.randint(1, 50), start),
                )
    actor = Actor.system()
    async with db.write(scope) as session:
        created = (
            await BillingRun(session, scope, actor, "Platform").run(RunRequest(*PERIOD))
        ).created
    lifecycle = InvoiceLifecycle(Composer("Bench <bench@localhost>"), BillingPolicy("P", "CB", 30))
    async with db.write(scope) as session:
        for n, invoice_id in enumerate(sorted(created)):
            if n % 2 == 0:
                await lifecycle.update_status(
                    session, scope, actor, invoice_id, InvoiceStatus.OPEN, notify=False
                )
            if n % 20 == 0:
                await lifecycle.update_status(
                    session, scope, actor, invoice_id, InvoiceStatus.CLOSED, notify=False
                )
    return Seeded(reseller_id, owner_id, len(created))


def app_settings(config: Config) -> Settings:
    """The app's settings, as a production deployment would have them (no mail dispatcher)."""
    return Settings(
        environment="production",
        database_url=config.url,
        migration_database_url=config.owner_url,
        secret_key=config.secret_key,
        migrate_on_start=False,
        seed_demo=False,
        outbox_dispatch=False,
        data_dir=Path(config.data_dir),
        db_pool_size=POOL_SIZE,
        # 32 connections saturate one process: a request waits for the CPU, and so for a pooled
        # connection, longer than the default 2 s a production pool would rather refuse after.
        db_pool_timeout_seconds=30,
        # One caller asking as fast as 32 connections can is what a cost budget exists to stop;
        # without one, the answer (its extensions.cost included) is the same bytes every time.
        cost_budget=0,
    ).validate()


def app_server(config: Config) -> Starlette:
    """The application itself."""
    return create_app(app_settings(config))


def app_uncompiled_server(config: Config) -> Starlette:
    """The application with GRAPHQL_COMPILED=false, so that what the builders gain stays
    visible."""
    return create_app(app_settings(config).with_(graphql_compiled=False))


def app_streams_server(config: Config) -> Starlette:
    """The application letting one caller hold many subscriptions (benchmarks/streams.py)."""
    return create_app(app_settings(config).with_(subscription_streams_per_caller=10_000))


def app_off_server(config: Config) -> Starlette:
    """The application with GRAPHQL_FAST_PATH=false: graphql-core's executor as it is, so that
    what the fast path gains stays visible."""
    return create_app(app_settings(config).with_(graphql_fast_path=False))


@cache
def _places(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def money(amount: Decimal, currency: str) -> Decimal:
    """Rounded to the currency's minor units, half up (the API's Money.amount)."""
    return amount.quantize(_places(currency), rounding=ROUND_HALF_UP)


def exact_money(amount: Decimal, currency: str) -> Decimal:
    """A unit price: rounded, unless it has further decimals (kept, without trailing zeros)."""
    rounded = money(amount, currency)
    return amount.normalize() if rounded != amount else rounded


def plain(value: Decimal) -> Decimal:
    """Without trailing zeros: 3 rather than 3.000000."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _set_tenant(reseller_id: uuid.UUID) -> tuple[Any, dict[str, str]]:
    """What row-level security needs on PostgreSQL, once per transaction."""
    return text("SELECT set_config('app.reseller_id', :r, true)"), {"r": str(reseller_id)}


async def _ping(request: Request) -> Response:
    """A trivial answer of ``size`` bytes: what the load generator and uvicorn cost alone."""
    return Response(b"x" * int(request.query_params.get("size", "2")), media_type="text/plain")


def ceiling_app(config: Config) -> Starlette:
    """The ceiling: the page and its lines through SQLAlchemy Core, the JSON by hand (orjson)."""
    return _ceiling(config, with_caller=False)


def ceiling_caller_app(config: Config) -> Starlette:
    """The ceiling with what every request of the app must do besides: the bearer token
    verified, and the caller read afresh (active, signed in, whose reseller is in what state)
    in one Core statement, in the page's own transaction; a refused caller gets 401."""
    return _ceiling(config, with_caller=True)


def _caller_statement(reseller_id: uuid.UUID) -> Any:
    users, tokens, resellers = User.__table__, RefreshToken.__table__, Reseller.__table__
    family = (tokens.c.reseller_id == reseller_id, tokens.c.family_id == bindparam("sid"))
    signed_in = and_(
        select(tokens.c.id).where(*family).exists(),
        ~select(tokens.c.id).where(*family, tokens.c.revoked_at.is_not(None)).exists(),
    )
    deactivated = (
        select(resellers.c.status == AccountStatus.DEACTIVATED)
        .where(resellers.c.id == reseller_id)
        .scalar_subquery()
    )
    columns = (users.c.role, users.c.status, users.c.billing_access, signed_in, deactivated)
    return select(*columns).where(
        users.c.reseller_id == reseller_id, users.c.id == bindparam("uid")
    )


def _ceiling(config: Config, *, with_caller: bool) -> Starlette:
    db = Database(config.url, pool_size=POOL_SIZE)
    signer = TokenSigner(config.secret_key, "channelbill")
    reseller_id = uuid.UUID(config.reseller_id)
    caller = _caller_statement(reseller_id)
    invoices, lines = Invoice.__table__, InvoiceLine.__table__
    page = select(invoices).where(
        invoices.c.reseller_id == reseller_id,
        or_(invoices.c.kind != InvoiceKind.WHOLESALE, invoices.c.status != InvoiceStatus.DRAFT),
        invoices.c.kind == InvoiceKind.RETAIL,
    )
    rls, rls_params = _set_tenant(reseller_id)

    async def graphql(request: Request) -> Response:
        claims: dict[str, Any] = {}
        if with_caller:
            _scheme, _, token = request.headers.get("authorization", "").partition(" ")
            try:
                claims = signer.verify(token, [USER_AUDIENCE])
            except InvalidToken:
                return Response(status_code=401)
        first = (orjson.loads(await request.body()).get("variables") or {}).get("first") or 20
        by_invoice: dict[uuid.UUID, list[Any]] = defaultdict(list)
        async with db.read_engine.connect() as connection:
            if db.is_postgresql:
                await connection.execute(rls, rls_params)
            if with_caller:
                user_id = uuid.UUID(claims["sub"].partition(":")[2])
                ids = {"uid": user_id, "sid": uuid.UUID(claims["sid"])}
                who = (await connection.execute(caller, ids)).first()
                if who is None or who.status is not UserStatus.ACTIVE or not who[3]:
                    return Response(status_code=401)
            result = await connection.execute(page.order_by(invoices.c.id).limit(first + 1))
            rows = result.all()[:first]
            if rows:
                wanted = lines.c.invoice_id.in_([row.id for row in rows])
                for line in await connection.execute(
                    select(lines)
                    .where(wanted, lines.c.reseller_id == reseller_id)
                    .order_by(lines.c.invoice_id, lines.c.position)
                ):
                    by_invoice[line.invoice_id].append(line)
        edges = []
        for row in rows:
            c = row.currency
            edges.append(
                {
                    "node": {
                        "id": to_global_id("Invoice", row.id),
                        "number": row.number,
                        "status": row.status,
                        "total": {"amount": str(money(row.total, c)), "currency": c},
                        "amountDue": {"amount": str(money(row.total - row.amount_paid, c))},
                        "issuedAt": row.issued_at,
                        "dueDate": row.due_date,
                        "buyer": {"name": row.buyer_name},
                        "lines": [
                            {
                                "description": line.description,
                                "quantity": str(plain(line.quantity)),
                                "unitPrice": {"amount": str(exact_money(line.unit_price, c))},
                                "amount": {"amount": str(money(line.amount, c))},
                            }
                            for line in by_invoice[row.id]
                        ],
                    }
                }
            )
        body = orjson.dumps({"data": {"invoices": {"edges": edges}}})
        return Response(body, media_type="application/json")

    return _baseline(db, [Route("/graphql", graphql, methods=["POST"])])


def _baseline(db: Database, routes: list[Route]) -> Starlette:
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await db.dispose()

    app = Starlette(routes=[*routes, Route("/ping", _ping)], lifespan=lifespan)
    app.state.db = db
    return app


PeerStatus = strawberry.enum(
    enum.Enum("PeerStatus", [(s.name, s.value) for s in InvoiceStatus]),  # type: ignore[misc]
    name="InvoiceStatus",
)


@strawberry.type(name="Money")
class PeerMoney:
    amount: Decimal
    currency: str


@strawberry.type(name="BillingParty")
class PeerParty:
    name: str


@strawberry.type(name="InvoiceLine")
class PeerLine:
    description: str
    quantity: Decimal
    unit_price: PeerMoney
    amount: PeerMoney


@strawberry.type(name="Invoice")
class PeerInvoice:
    id: strawberry.ID
    number: str | None
    status: PeerStatus  # type: ignore[valid-type]
    total: PeerMoney
    amount_due: PeerMoney
    issued_at: datetime | None
    due_date: date | None
    buyer: PeerParty
    lines: list[PeerLine]

    @classmethod
    def from_row(cls, row: Invoice) -> PeerInvoice:
        c = row.currency
        return cls(
            id=strawberry.ID(to_global_id("Invoice", row.id)),
            number=row.number,
            status=PeerStatus[row.status.name],
            total=PeerMoney(amount=money(row.total, c), currency=c),
            amount_due=PeerMoney(amount=money(row.total - row.amount_paid, c), currency=c),
            issued_at=row.issued_at,
            due_date=row.due_date,
            buyer=PeerParty(name=row.buyer_name),
            lines=[
                PeerLine(
                    description=line.description,
                    quantity=plain(line.quantity),
                    unit_price=PeerMoney(amount=exact_money(line.unit_price, c), currency=c),
                    amount=PeerMoney(amount=money(line.amount, c), currency=c),
                )
                for line in row.peer_lines  # type: ignore[attr-defined]
            ],
        )


@strawberry.type(name="InvoiceEdge")
class PeerEdge:
    node: PeerInvoice


@strawberry.type(name="InvoiceConnection")
class PeerConnection:
    edges: list[PeerEdge]


@dataclass(frozen=True)
class PeerState:
    db: Database
    sessions: async_sessionmaker[AsyncSession]
    reseller_id: uuid.UUID


@strawberry.type(name="Query")
class PeerQuery:
    @strawberry.field
    async def invoices(self, info: strawberry.Info, first: int = 20) -> PeerConnection:
        peer: PeerState = info.context["request"].app.state.peer
        async with peer.sessions() as session:
            if peer.db.is_postgresql:
                await session.execute(*_set_tenant(peer.reseller_id))
            rows = await session.scalars(
                select(Invoice)
                .where(Invoice.reseller_id == peer.reseller_id, Invoice.kind == InvoiceKind.RETAIL)
                .order_by(Invoice.id)
                .limit(first)
                .options(selectinload(Invoice.peer_lines))  # type: ignore[attr-defined]
            )
            return PeerConnection(edges=[PeerEdge(node=PeerInvoice.from_row(row)) for row in rows])


def peer_app(config: Config) -> Starlette:
    """The peer: strawberry out of the box on the ORM, the lines by ``selectinload``."""
    if "peer_lines" not in Invoice.__mapper__.relationships:
        Invoice.peer_lines = relationship(  # type: ignore[attr-defined]
            InvoiceLine, order_by=InvoiceLine.position, viewonly=True
        )
    db = Database(config.url, pool_size=POOL_SIZE)
    graphql = GraphQL(strawberry.Schema(query=PeerQuery))
    app = _baseline(db, [Route("/graphql", graphql, methods=["GET", "POST"])])
    app.state.peer = PeerState(
        db, async_sessionmaker(db.engine, expire_on_commit=False), uuid.UUID(config.reseller_id)
    )
    return app


FACTORIES: dict[str, Callable[[Config], Starlette]] = {
    "app": app_server,
    "app-uncompiled": app_uncompiled_server,
    "app-off": app_off_server,
    "app-streams": app_streams_server,
    "peer": peer_app,
    "ceiling": ceiling_app,
    "ceiling-caller": ceiling_caller_app,
}


def _end_with(parent: int) -> None:
    """On Linux, be sent SIGTERM when the benchmark's process ends, however it ends."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it ended before that was asked
        os.kill(os.getpid(), signal.SIGTERM)


def serve(argv: list[str]) -> None:
    """The entry point of a server process: KIND PORT PARENT-PID, the Config in CONFIG_ENV."""
    import uvicorn

    kind, port, config = argv[0], int(argv[1]), Config(**json.loads(os.environ[CONFIG_ENV]))
    _end_with(int(argv[2]))
    uvicorn.run(
        FACTORIES[kind](config),
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def _log_file(folder: str, kind: str) -> Iterator[Any]:
    with open(Path(folder) / f"{kind}.log", "wb") as log:
        yield log


@dataclass
class Server:
    kind: str
    port: int
    process: asyncio.subprocess.Process
    log: Path

    def failure(self, why: str) -> RuntimeError:
        output = self.log.read_text(errors="replace")[-3000:]
        return RuntimeError(f"{self.kind} server {why}; its output:\n{output}")


@asynccontextmanager
async def running(kind: str, config: Config, folder: str) -> AsyncIterator[Server]:
    """A server process, answering on a free port of the loopback; stopped on leaving, even on
    error: terminated, killed if it has not ended 10 s later."""
    port = free_port()
    env = dict(os.environ)
    env[CONFIG_ENV] = json.dumps(asdict(config))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SCRIPTS), env.get("PYTHONPATH")) if p)
    with _log_file(folder, kind) as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.page_query",
            kind,
            str(port),
            str(os.getpid()),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=SCRIPTS.parent,
        )
    server = Server(kind, port, process, Path(folder) / f"{kind}.log")
    try:
        await _ready(server)
        yield server
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _ready(server: Server, seconds: float = 60) -> None:
    """Wait until the server accepts a connection and answers (a GET that may be refused)."""
    deadline = time.monotonic() + seconds
    while True:
        if server.process.returncode is not None:
            raise server.failure(f"exited with {server.process.returncode}")
        try:
            client = await Client.open(server.port)
        except OSError:
            if time.monotonic() > deadline:
                raise server.failure(f"did not listen within {seconds:.0f} s") from None
            await asyncio.sleep(0.1)
            continue
        try:
            await client.request(get_request(server.port, "/ping"))
            return
        finally:
            client.close()


def post_request(port: int, token: str, first: int) -> bytes:
    body = orjson.dumps({"query": QUERY, "variables": {"first": first}})
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def get_request(port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()


class Client:
    """One keep-alive HTTP/1.1 connection: a request written whole, the answer read by its
    Content-Length (every server here sends one)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        return cls(reader, writer)

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        start = head.lower().find(b"\r\ncontent-length:")
        if start < 0:
            raise RuntimeError(f"no Content-Length in {head!r}")
        end = head.index(b"\r\n", start + 2)
        body = await self.reader.readexactly(int(head[start + 17 : end]))
        return int(head[9:12]), body

    def close(self) -> None:
        self.writer.close()


@dataclass
class Point:
    """One load point: requests answered, in how long, and their latencies (seconds)."""

    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def load(
    port: int, payload: bytes, expected: bytes, connections: int, seconds: float
) -> Point:
    """``connections`` connections, each sending the next request as soon as it has the answer
    to the last, for ``seconds``; every answer must be 200 and ``expected``, byte for byte."""
    clients = [await Client.open(port) for _ in range(connections)]
    latencies: list[float] = []
    clock = time.perf_counter

    async def worker(client: Client, stop: float) -> None:
        while (sent := clock()) < stop:
            status, body = await client.request(payload)
            latencies.append(clock() - sent)
            if status != 200 or body != expected:
                raise RuntimeError(f"unexpected answer ({status}): {body[:300]!r}")

    try:
        start = clock()
        await asyncio.gather(*(worker(c, start + seconds) for c in clients))
        elapsed = clock() - start
    finally:
        for client in clients:
            client.close()
    return Point(len(latencies), elapsed, latencies)


def fields(value: Any) -> int:
    """Fields in a JSON answer: every key of every object."""
    if isinstance(value, dict):
        return len(value) + sum(fields(v) for v in value.values())
    if isinstance(value, list):
        return sum(fields(v) for v in value)
    return 0


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if type(a) is not type(b):
        return f"{path or '.'}: {a!r} != {b!r}"
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{path or '.'}: keys {sorted(a)} != {sorted(b)}"
        return next((d for k in a if (d := first_difference(a[k], b[k], f"{path}.{k}"))), None)
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        found = (
            first_difference(x, y, f"{path}[{i}]")
            for i, (x, y) in enumerate(zip(a, b, strict=True))
        )
        return next((d for d in found if d), None)
    return None if a == b else f"{path}: {a!r} != {b!r}"


async def answers(servers: dict[str, Server], token: str, size: int) -> dict[str, bytes]:
    """Each server's answer for the page, after checking that all three hold the same data."""
    bodies: dict[str, bytes] = {}
    for kind, server in servers.items():
        client = await Client.open(server.port)
        try:
            status, bodies[kind] = await client.request(post_request(server.port, token, size))
        finally:
            client.close()
        if status != 200:
            raise RuntimeError(f"{kind} answered {status}: {bodies[kind][:500]!r}")
    data = {kind: orjson.loads(body) for kind, body in bodies.items()}
    edges = data["app"]["data"]["invoices"]["edges"]
    assert "errors" not in data["app"], data["app"]["errors"]
    assert len(edges) == size, len(edges)
    assert all(len(e["node"]["lines"]) == len(PRODUCTS) for e in edges)
    for kind in SERVERS[1:]:  # the app's answer also says what it cost (extensions.cost)
        difference = first_difference(data["app"]["data"], data[kind]["data"])
        if difference is not None:
            raise AssertionError(f"{kind} answers differently from the app: {difference}")
    return bodies


class Statements:
    """The SELECTs an engine runs while ``counting``, by their first table (as the test counts
    them: not PostgreSQL's set_config for row-level security, nor BEGIN)."""

    FROM = re.compile(r'\bFROM\s+"?(\w+)')

    def __init__(self, db: Database) -> None:
        self.tables: list[str] = []
        for engine in db.engines:
            event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("SELECT") and "set_config" not in statement:
            found = self.FROM.search(statement)
            self.tables.append(found.group(1) if found else "?")


async def count_statements(
    config: Config, token: str, kind: str, sizes: tuple[int, ...]
) -> dict[int, list[str]]:
    """Per page size, the SELECTs a server runs for one request, served in this process."""
    app = FACTORIES[kind](config)
    db: Database = app.state.services.db if kind == "app" else app.state.db
    statements = Statements(db)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    counted: dict[int, list[str]] = {}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for size in (sizes[0], *sizes):  # the first request is a warm-up
                statements.tables.clear()
                response = await client.post(
                    "/graphql",
                    json={"query": QUERY, "variables": {"first": size}},
                    headers=headers,
                )
                body = response.json()
                assert "errors" not in body, body
                assert len(body["data"]["invoices"]["edges"]) == size
                counted[size] = list(statements.tables)
    finally:
        await db.dispose()
    return counted


def _counts(counted: dict[int, list[str]]) -> str:
    sizes = " / ".join(str(len(tables)) for tables in counted.values())
    kinds = {", ".join(tables) for tables in counted.values()}
    return f"{sizes} ({'; '.join(sorted(kinds))})"


def _rate(value: float) -> str:
    return number(value, 1 if value < 100 else 0)


def _ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


@dataclass
class Measured:
    """Every load point of every repeat, by (server, connections); the pings."""

    points: dict[tuple[str, int], list[Point]]
    pings: list[Point]

    def rate(self, kind: str, connections: int) -> float:
        return median([p.rate for p in self.points[kind, connections]])

    def latency(self, kind: str, connections: int) -> str:
        """Median p50 / median p99, in ms."""
        points = self.points[kind, connections]
        return f"{_ms(median([p.p50 for p in points]))}/{_ms(median([p.p99 for p in points]))}"

    def ratio(self, kind: str, other: str) -> float:
        """req/s of ``kind`` over ``other`` at 32 connections, each repeat side by side."""
        pairs = zip(self.points[kind, 32], self.points[other, 32], strict=True)
        return median([a.rate / b.rate for a, b in pairs])


async def run_load(
    servers: dict[str, Server],
    bodies: dict[str, bytes],
    token: str,
    options: argparse.Namespace,
    page_size: int,
) -> Measured:
    """Per repeat, each server in turn (the order rotated every repeat): a warm-up, then 1 and
    32 connections; last the ping, answering as many bytes as the page."""
    measured = Measured(defaultdict(list), [])
    for repeat in range(options.repeat):
        turn = repeat % len(SERVERS)
        for kind in SERVERS[turn:] + SERVERS[:turn]:
            port, expected = servers[kind].port, bodies[kind]
            payload = post_request(port, token, page_size)
            await load(port, payload, expected, 32, options.page_warmup)
            for connections in CONNECTIONS:
                point = await load(port, payload, expected, connections, options.page_seconds)
                measured.points[kind, connections].append(point)
        port, size = servers["ceiling"].port, len(bodies["app"])
        ping = get_request(port, f"/ping?size={size}")
        measured.pings.append(await load(port, ping, b"x" * size, 32, options.page_seconds))
    return measured


async def sign_in(target: Target, secret: str) -> str:
    """The OWNER's access token, from a sign-in as the login mutation makes one (a token names
    its sign-in, which must be open)."""
    authenticator = Authenticator(TokenSigner(secret, "channelbill"), TokenPolicy(TOKEN_TTL))
    db = Database(target.url, pool_size=1)
    try:
        async with db.write(TenantScope.system()) as session:
            signed = await authenticator.login(session, OWNER_EMAIL, OWNER_PASSWORD, "bench")
    finally:
        await db.dispose()
    return signed.access_token


async def measure(target: Target, options: argparse.Namespace) -> Report:
    db = Database(target.url, pool_size=2)
    try:
        seeded = await seed(db)
    finally:
        await db.dispose()
    await target.maintain(*SEEDED)
    secret = secrets.token_urlsafe(48)
    token = await sign_in(target, secret)
    sizes = sorted(set(options.page_size))
    main = PAGE_SIZE if PAGE_SIZE in sizes else sizes[0]  # whose facts are shown
    with tempfile.TemporaryDirectory(prefix="channelbill-page-") as folder:
        config = Config(target.url, target.owner_url, str(seeded.reseller_id), secret, folder)
        app_sql = await count_statements(config, token, "app", SIZES)
        peer_sql = await count_statements(config, token, "peer", (main,))
        ceiling_sql = await count_statements(config, token, "ceiling", (main,))
        bodies: dict[int, dict[str, bytes]] = {}
        measured: dict[int, Measured] = {}
        async with AsyncExitStack() as stack:
            servers = {
                kind: await stack.enter_async_context(running(kind, config, folder))
                for kind in SERVERS
            }
            for size in sizes:
                bodies[size] = await answers(servers, token, size)
                measured[size] = await run_load(servers, bodies[size], token, options, size)

    same = all(b[kind] == b["app"] for b in bodies.values() for kind in SERVERS)
    own_same = all(b["app"] == b["app-uncompiled"] == b["app-off"] for b in bodies.values())
    rows = [_row(size, measured[size]) for size in sizes]
    return Report(
        row=rows[sizes.index(main)],
        more=[row for size, row in zip(sizes, rows, strict=True) if size != main],
        facts={
            "page": (
                f"{' / '.join(map(str, sizes))} of {seeded.invoices} invoices, {len(PRODUCTS)}"
                f" lines each ({fields(orjson.loads(bodies[main]['app'])):,} fields in a page of"
                f" {main}); app, peer and ceiling answer"
                f" {'the same bytes' if same else 'the same data'}; app, app compiled off and app"
                f" off {'the same bytes' if own_same else 'DIFFERENT BYTES'}"
            ),
            "load": (
                f"{options.page_seconds:g} s a point after {options.page_warmup:g} s of warm-up;"
                " 32 connections unless '1 conn' (then app; compiled off; app off; peer; ceiling;"
                " ceiling+caller);"
                " ratios: the median of each repeat's ratio of req/s, side by side; ping: a"
                " trivial endpoint as large as the page"
            ),
            "SELECTs per request, app, pages of 10 / 50 / 100": _counts(app_sql),
            f"SELECTs per request, peer and ceiling, page of {main}": (
                f"{_counts(peer_sql)} and {_counts(ceiling_sql)}"
            ),
        },
    )


def _row(size: int, m: Measured) -> dict[str, str]:
    return {
        "page": str(size),
        "app r/s": _rate(m.rate("app", 32)),
        "p50/p99 ms": m.latency("app", 32),
        "peer r/s": _rate(m.rate("peer", 32)),
        "ceiling r/s": _rate(m.rate("ceiling", 32)),
        "app compiled off r/s": _rate(m.rate("app-uncompiled", 32)),
        "app/compiled off": f"{m.ratio('app', 'app-uncompiled'):.2f}x",
        "app off r/s": _rate(m.rate("app-off", 32)),
        "app/app off": f"{m.ratio('app', 'app-off'):.2f}x",
        "app/peer": f"{m.ratio('app', 'peer'):.2f}x",
        "app/ceiling": f"{m.ratio('app', 'ceiling'):.2f}x",
        "ceiling+caller r/s": _rate(m.rate("ceiling-caller", 32)),
        "app/ceiling+caller": f"{m.ratio('app', 'ceiling-caller'):.2f}x",
        "p50/p99 ms peer; ceiling": "; ".join(m.latency(k, 32) for k in ("peer", "ceiling")),
        "1 conn r/s": "; ".join(_rate(m.rate(k, 1)) for k in SERVERS),
        "1 conn p50/p99 ms": "; ".join(m.latency(k, 1) for k in SERVERS),
        "ping r/s": _rate(median([p.rate for p in m.pings])),
    }


if __name__ == "__main__":
    serve(sys.argv[1:])
