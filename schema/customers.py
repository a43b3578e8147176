"""Customer: type, the customers connection, createCustomer, updateCustomer."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db.pagination import PageRequest
from schema.context import Info
from schema.errors import Payload
from schema.money import Money, PaymentMethod
from schema.mutations import INPUT, respond
from schema.permissions import CanReadCustomers, CanReadTenant, CanWriteCustomers, billing_field
from schema.relay import (
    After,
    Before,
    Connection,
    First,
    Last,
    Node,
    decode_id,
    page_request,
    resolve_connection,
    to_global_id,
)
from schema.resellers import AccountStatus, CustomerSearch, CustomerStatus, Reseller
from schema.scalars import CurrencyCode
from schema.statements import Statement, customer_statement
from tenants import models, services
from tenants.repositories import CustomerRepository


@strawberry.type(description="A reseller's end customer: a billing account.")
class Customer(Node):
    name: str = strawberry.field(description="Company or person name.")
    email: str = strawberry.field(description="Where its invoices are sent.")
    currency: CurrencyCode = strawberry.field(description="ISO 4217 code it is billed in.")
    timezone: str = strawberry.field(description="IANA time zone.")
    tax_rate: Decimal = strawberry.field(description="Percent added as tax; may be 0.")
    tax_id: str | None = strawberry.field(description="VAT or other tax registration number.")
    address: str | None = strawberry.field(
        description="Postal address, one line per line: printed under 'Bill to' on its invoices."
    )
    status: AccountStatus = strawberry.field(description="DEACTIVATED after unpaid bills.")
    created_at: datetime = strawberry.field(description="When it was added.")
    reseller_id: strawberry.Private[uuid.UUID]
    db_id: strawberry.Private[uuid.UUID]

    @strawberry.field(
        permission_classes=[CanReadTenant], description="The reseller this customer buys from."
    )
    async def reseller(self, info: Info) -> Reseller | None:
        row = await info.context.loaders.reseller_by_id.load(self.reseller_id)
        return Reseller.from_model(row) if row else None

    @billing_field(description="What it owes now: the amounts due of its open invoices.")
    async def balance(self, info: Info) -> Money | None:
        owed = await info.context.loaders.customer_balance_by_id.load(self.db_id)
        return Money.of(owed or Decimal(0), self.currency)

    @billing_field(description="Its statement for a date range (both days included), computed now.")
    async def statement(
        self,
        info: Info,
        start: Annotated[date, strawberry.argument(name="from", description="First day.")],
        end: Annotated[date, strawberry.argument(name="to", description="Last day.")],
    ) -> Statement | None:
        return await customer_statement(info, self.db_id, start, end)

    @billing_field(description="The card its invoices are charged to; null if none.")
    def payment_method(self) -> PaymentMethod | None:
        return None

    @classmethod
    def from_model(cls, row: models.Customer) -> Customer:
        return cls(
            id=strawberry.ID(to_global_id("Customer", row.id)),
            name=row.name,
            email=row.email,
            currency=row.currency,
            timezone=row.timezone,
            tax_rate=row.tax_rate,
            tax_id=row.tax_id,
            address=row.address,
            status=row.status,
            created_at=row.created_at,
            reseller_id=row.reseller_id,
            db_id=row.id,
        )


@strawberry.input(description="A new customer of a reseller.")
class CreateCustomerInput:
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Platform admins name the reseller; others may omit it (it is their own).",
    )
    name: str = strawberry.field(description="Company or person name.")
    email: str = strawberry.field(description="Billing email address.")
    currency: CurrencyCode = strawberry.field(description="ISO 4217 code, e.g. EUR.")
    timezone: str | None = strawberry.field(default=None, description="IANA zone; UTC if unset.")
    tax_rate: Decimal | None = strawberry.field(default=None, description="Percent, 0 to 100.")
    tax_id: str | None = strawberry.field(default=None, description="Tax registration number.")
    address: str | None = strawberry.field(
        default=None, description="Postal address, one line per line (at most 1000 characters)."
    )


@strawberry.input(description="Only the fields given change.")
class UpdateCustomerInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer to change.")
    name: str | None = strawberry.field(default=None, description="New name.")
    email: str | None = strawberry.field(default=None, description="New billing email.")
    timezone: str | None = strawberry.field(default=None, description="New IANA zone.")
    tax_rate: Decimal | None = strawberry.field(default=None, description="New percent.")
    tax_id: str | None = strawberry.field(
        default=None, description="New tax registration number; an empty string clears it."
    )
    address: str | None = strawberry.field(
        default=None, description="New postal address; an empty string clears it."
    )


@strawberry.type
class CustomerPayload(Payload):
    customer: Customer | None = strawberry.field(
        default=None, description="The customer as saved; null when there are errors."
    )


@strawberry.type(description="Result of createCustomer.")
class CreateCustomerPayload(CustomerPayload):
    pass


@strawberry.type(description="Result of updateCustomer.")
class UpdateCustomerPayload(CustomerPayload):
    pass


@strawberry.type(description="A page of customers.")
class CustomerConnection(Connection[Customer]):
    pass


async def customer_connection(
    info: Info,
    request: PageRequest,
    search: str | None,
    status: models.AccountStatus | None,
    reseller_id: uuid.UUID | None = None,
) -> CustomerConnection:
    return await resolve_connection(
        info,
        CustomerConnection,
        CustomerRepository,
        request,
        Customer.from_model,
        lambda repo: repo.filtered(search, status, reseller_id),
    )


@strawberry.type
class CustomerQueries:
    @strawberry.field(
        permission_classes=[CanReadCustomers],
        description=(
            "The caller's customers, oldest first: every reseller's for platform admins, its own"
            " one for a customer portal."
        ),
    )
    async def customers(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        search: CustomerSearch = None,
        status: CustomerStatus = None,
    ) -> CustomerConnection:
        return await customer_connection(
            info, page_request(first, after, last, before), search, status
        )


@strawberry.type
class CustomerMutations:
    @strawberry.mutation(
        permission_classes=[CanWriteCustomers], description="Add a customer to your reseller."
    )
    async def create_customer(
        self, info: Info, input: Annotated[CreateCustomerInput, INPUT]
    ) -> CreateCustomerPayload:
        data = services.NewCustomer(
            name=input.name,
            email=input.email,
            currency=input.currency,
            timezone=input.timezone,
            tax_rate=input.tax_rate,
            tax_id=input.tax_id,
            address=input.address,
        )
        scope = info.context.scope

        async def create(session: AsyncSession) -> models.Customer:
            reseller_id = None
            if input.reseller_id is not None:
                reseller_id = decode_id(input.reseller_id, "Reseller", field="resellerId")
            return await services.create_customer(session, scope, data, reseller_id)

        return await respond(
            info,
            CreateCustomerPayload,
            create,
            lambda value: CreateCustomerPayload(customer=Customer.from_model(value)),
        )

    @strawberry.mutation(permission_classes=[CanWriteCustomers], description="Change a customer.")
    async def update_customer(
        self, info: Info, input: Annotated[UpdateCustomerInput, INPUT]
    ) -> UpdateCustomerPayload:
        changes = services.CustomerChanges(
            name=input.name,
            email=input.email,
            timezone=input.timezone,
            tax_rate=input.tax_rate,
            tax_id=input.tax_id,
            address=input.address,
        )
        scope = info.context.scope

        async def update(session: AsyncSession) -> models.Customer:
            customer_id = decode_id(input.customer_id, "Customer", field="customerId")
            return await services.update_customer(session, scope, customer_id, changes)

        return await respond(
            info,
            UpdateCustomerPayload,
            update,
            lambda value: UpdateCustomerPayload(customer=Customer.from_model(value)),
        )
