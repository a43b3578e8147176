"""The typed per-request context: who is calling, their tenant scope, units of work, DataLoaders."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from auth.accounts import Accounts
from auth.principal import Principal
from auth.repositories import ApiClientRepository, PortalTokenRepository
from auth.sessions import Authenticator
from auth.throttle import Throttle
from auth.tokens import TokenSigner
from billing.catalog import Catalog
from billing.invoices import (
    FieldDefinitionRepository,
    InvoiceChildren,
    InvoiceRepository,
    PaymentRepository,
)
from billing.lifecycle import InvoiceLifecycle
from billing.models import InvoiceKind
from billing.prices import PriceOverrideRepository
from billing.statements import balances
from billing.subscriptions import SubscriptionRepository, UsageRepository
from db.database import SCOPE_KEY, Database
from db.scope import TenantScope
from documents.links import DocumentLinks
from documents.service import Documents
from events.log import EventLog
from notifications.emails import Composer
from notifications.outbox import OutboxRepository
from payments.repositories import cards_on_file
from payments.sandbox import SandboxGateway
from payments.schedule import RetryPolicy
from payments.service import PaymentServices
from tenants.audit import AuditRepository
from tenants.repositories import (
    CustomerRepository,
    PlatformAdminRepository,
    ResellerRepository,
    UserRepository,
)
from tenants.scope import scope_for
from webhooks.endpoints import EndpointRepository, Webhooks
from webhooks.sealed import SecretBox

M = TypeVar("M")


STREAM_READS = 3  # subscriptions of one process reading the database at once


@dataclass(frozen=True)
class Services:
    """What lives as long as the app: handed to every request."""

    db: Database
    authenticator: Authenticator
    accounts: Accounts
    signer: TokenSigner
    lifecycle: InvoiceLifecycle
    composer: Composer
    documents: Documents
    links: DocumentLinks
    platform_name: str = "channelbill"
    development: bool = False
    streams_per_caller: int = 20  # open subscriptions of one caller in this process
    # Subscriptions reading at once: many streams woken together queue here, not on the pool
    # (whose wait is short), and leave its other connections to requests.
    stream_reads: asyncio.Semaphore = None  # type: ignore[assignment]  # STREAM_READS
    throttle: Throttle = None  # type: ignore[assignment]  # built on ``db`` unless given
    payments: PaymentServices = None  # type: ignore[assignment]  # built (sandbox) unless given
    webhooks: Webhooks = None  # type: ignore[assignment]  # built unless given

    def __post_init__(self) -> None:
        if self.stream_reads is None:
            object.__setattr__(self, "stream_reads", asyncio.Semaphore(STREAM_READS))
        if self.throttle is None:
            object.__setattr__(self, "throttle", Throttle(self.db))
        if self.payments is None:
            payments = PaymentServices.build(
                self.db,
                SandboxGateway(self.db),
                self.lifecycle,
                self.composer,
                policy=RetryPolicy(),
                platform_name=self.platform_name,
                card_url=self.links.base_url + "/billing/card",
            )
            object.__setattr__(self, "payments", payments)
        if self.webhooks is None:
            # Secrets sealed under a key of this process only: the app passes its own.
            object.__setattr__(self, "webhooks", Webhooks(SecretBox(secrets.token_hex(32))))


class Loaders:
    """``<Thing>By<Key>Loader``s, one set per request; each batch reads in a session of its own,
    from ``read`` (the context's)."""

    def __init__(
        self, scope: TenantScope, read: Callable[[], AbstractAsyncContextManager[AsyncSession]]
    ) -> None:
        self._read = read
        self.reseller_by_id = self._loader(lambda s: ResellerRepository(s, scope).by_ids)
        self.customer_by_id = self._loader(lambda s: CustomerRepository(s, scope).by_ids)
        self.user_by_id = self._loader(lambda s: UserRepository(s, scope).by_ids)
        self.api_client_by_id = self._loader(lambda s: ApiClientRepository(s, scope).by_ids)
        self.portal_token_by_id = self._loader(lambda s: PortalTokenRepository(s, scope).by_ids)
        self.audit_event_by_id = self._loader(lambda s: AuditRepository(s, scope).by_ids)
        self.platform_admin_by_id = self._loader(
            lambda s: PlatformAdminRepository(s).by_ids if scope.all_tenants else _none
        )
        self.vendor_by_id = self._loader(lambda s: Catalog(s).vendors_by_ids)
        self.product_by_id = self._loader(lambda s: Catalog(s).products_by_ids)
        self.prices_by_product_id = self._loader(lambda s: Catalog(s).prices_by_product_ids)
        self.subscription_by_id = self._loader(lambda s: SubscriptionRepository(s, scope).by_ids)
        self.usage_record_by_id = self._loader(lambda s: UsageRepository(s, scope).by_ids)
        self.price_override_by_id = self._loader(lambda s: PriceOverrideRepository(s, scope).by_ids)
        self.invoice_by_id = self._loader(lambda s: InvoiceRepository(s, scope).by_ids)
        self.payment_by_id = self._loader(lambda s: PaymentRepository(s, scope).by_ids)
        self.event_by_id = self._loader(lambda s: EventLog(s, scope).by_ids)
        self.webhook_endpoint_by_id = self._loader(lambda s: EndpointRepository(s, scope).by_ids)
        self.lines_by_invoice_id = self._loader(lambda s: InvoiceChildren(s, scope).lines)
        self.charges_by_invoice_id = self._loader(lambda s: InvoiceChildren(s, scope).charges)
        self.payments_by_invoice_id = self._loader(lambda s: InvoiceChildren(s, scope).payments)
        self.notifications_by_invoice_id = self._loader(
            lambda s: partial(OutboxRepository(s, scope).about, "Invoice")
        )
        self.field_definitions_by_reseller_id = self._loader(
            lambda s: FieldDefinitionRepository(s, scope).by_resellers
        )
        self.customer_balance_by_id = self._loader(
            lambda s: partial(balances, s, scope, InvoiceKind.RETAIL)
        )
        self.reseller_balance_by_id = self._loader(
            lambda s: partial(balances, s, scope, InvoiceKind.WHOLESALE)
        )
        self.card_by_reseller_id = self._loader(lambda s: partial(cards_on_file, s))

    def _loader(
        self,
        fetch: Callable[
            [AsyncSession], Callable[[Iterable[uuid.UUID]], Awaitable[dict[uuid.UUID, M]]]
        ],
    ) -> DataLoader[uuid.UUID, M | None]:
        async def batch(keys: list[uuid.UUID]) -> list[M | None]:
            async with self._read() as session:
                found = await fetch(session)(keys)
            return [found.get(key) for key in keys]

        return DataLoader(load_fn=batch)


async def _none(_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
    return {}


@dataclass
class Context:
    services: Services
    principal: Principal | None
    scope: TenantScope = field(init=False)
    loaders: Loaders = field(init=False)
    request: Any = None
    response: Any = None
    # A WebSocket's connection_init payload (graphql-transport-ws): its Authorization
    connection_params: dict[str, Any] | None = None

    # The caller's read session, still open (see ``hold``), until the first read takes it.
    _held: AsyncSession | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.act_as(self.principal)

    def act_as(self, principal: Principal | None) -> None:
        """After login, the rest of the response is resolved as the user who just signed in."""
        self.principal = principal
        self.scope = scope_for(principal)
        self.loaders = Loaders(self.scope, self.read)

    async def hold(self, session: AsyncSession | None) -> None:
        """The session the caller was just read in, still open: the request's first read reads
        on in it, in the same transaction (one checkout, one ``set_config`` fewer), and closes
        it. Only a session in the request's own scope is kept; ``release`` closes one that no
        read took."""
        await self.release()
        if session is not None and session.info.get(SCOPE_KEY) == self.scope:
            self._held = session
        elif session is not None:
            await session.close()

    async def release(self) -> None:
        """Close the held session, if no read took it: before a write (a request never holds
        one connection while it waits for another), and when the operation is done."""
        held, self._held = self._held, None
        if held is not None:
            await held.close()

    @property
    def caller(self) -> Principal:
        """The authenticated caller, where a permission class has already demanded one."""
        if self.principal is None:
            raise RuntimeError("no caller: the field lacks a permission class")
        return self.principal

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def client_address(self) -> str | None:
        """The peer of the connection; behind a proxy, uvicorn's --proxy-headers (trusting the
        proxy's address in FORWARDED_ALLOW_IPS) makes it the client's."""
        client = getattr(self.request, "client", None)
        return client.host if client is not None else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read session in the caller's scope: the held one the first time (see ``hold``),
        a new one otherwise; closed when the block ends."""
        held, self._held = self._held, None
        if held is not None and held.info.get(SCOPE_KEY) != self.scope:  # act_as since
            await held.close()
            held = None
        async with held if held is not None else self.db.read(self.scope) as session:
            yield session

    @asynccontextmanager
    async def write(
        self, scope: TenantScope | None = None, *, durable: bool = True
    ) -> AsyncIterator[AsyncSession]:
        await self.release()
        async with self.db.write(scope or self.scope, durable=durable) as session:
            yield session


Info = strawberry.Info[Context, None]
