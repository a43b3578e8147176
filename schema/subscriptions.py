"""Subscriptions and usage records: what customers are billed for."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from billing import models, subscriptions
from schema.catalog import Product
from schema.context import Info
from schema.customers import Customer
from schema.errors import Payload
from schema.mutations import INPUT, respond
from schema.permissions import CanReadCustomers, CanWriteCustomers
from schema.relay import (
    After,
    Connection,
    First,
    Node,
    decode_id,
    page_request,
    resolve_connection,
    to_global_id,
)


@strawberry.type(description="A customer's monthly subscription to a recurring product.")
class CustomerSubscription(Node):
    quantity: int = strawberry.field(description="Units billed each month.")
    start_date: date = strawberry.field(description="First day billed.")
    end_date: date | None = strawberry.field(description="Last day billed; null: open-ended.")
    created_at: datetime = strawberry.field(description="When it was created.")
    customer_id: strawberry.Private[uuid.UUID]
    product_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The customer subscribed.")
    async def customer(self, info: Info) -> Customer | None:
        row = await info.context.loaders.customer_by_id.load(self.customer_id)
        return Customer.from_model(row) if row else None

    @strawberry.field(description="The product subscribed to.")
    async def product(self, info: Info) -> Product | None:
        row = await info.context.loaders.product_by_id.load(self.product_id)
        return Product.from_model(row) if row else None

    @classmethod
    def from_model(cls, row: models.Subscription) -> CustomerSubscription:
        return cls(
            id=strawberry.ID(to_global_id("CustomerSubscription", row.id)),
            quantity=row.quantity,
            start_date=row.start_date,
            end_date=row.end_date,
            created_at=row.created_at,
            customer_id=row.customer_id,
            product_id=row.product_id,
        )


@strawberry.type(description="Something a customer used, as reported.")
class UsageRecord(Node):
    quantity: Decimal = strawberry.field(description="How much, in the product's unit.")
    occurred_at: datetime = strawberry.field(description="When it was used.")
    reference: str | None = strawberry.field(
        description="The sender's own id of the record: a re-sent record is recorded once."
    )
    customer_id: strawberry.Private[uuid.UUID]
    product_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The product used.")
    async def product(self, info: Info) -> Product | None:
        row = await info.context.loaders.product_by_id.load(self.product_id)
        return Product.from_model(row) if row else None

    @classmethod
    def from_model(cls, row: models.UsageRecord) -> UsageRecord:
        return cls(
            id=strawberry.ID(to_global_id("UsageRecord", row.id)),
            quantity=row.quantity,
            occurred_at=row.occurred_at,
            reference=row.reference,
            customer_id=row.customer_id,
            product_id=row.product_id,
        )


@strawberry.type(description="A page of subscriptions.")
class CustomerSubscriptionConnection(Connection[CustomerSubscription]):
    pass


@strawberry.input(description="Subscribe a customer to a recurring product.")
class CreateCustomerSubscriptionInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    product_id: strawberry.ID = strawberry.field(description="A RECURRING product.")
    quantity: int = strawberry.field(description="Units, 1 to 1,000,000.")
    start_date: date = strawberry.field(description="First day billed.")
    end_date: date | None = strawberry.field(default=None, description="Last day billed.")


@strawberry.input(description="Change a subscription: only the fields given change.")
class UpdateCustomerSubscriptionInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    quantity: int | None = strawberry.field(default=None, description="New number of units.")
    end_date: date | None = strawberry.field(default=None, description="New last day billed.")


@strawberry.input(description="End a subscription.")
class EndCustomerSubscriptionInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    end_date: date = strawberry.field(description="Last day billed.")


@strawberry.input(description="One usage record.")
class RecordUsageInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    product_id: strawberry.ID = strawberry.field(description="A USAGE product.")
    quantity: Decimal = strawberry.field(description="How much, at most 6 decimals.")
    occurred_at: datetime = strawberry.field(description="When, with an offset.")
    reference: str | None = strawberry.field(
        default=None, description="Your id of the record: sending it again records nothing."
    )


@strawberry.input(description="Up to 1,000 usage records, recorded all or none.")
class RecordUsageBatchInput:
    records: list[RecordUsageInput] = strawberry.field(description="The records.")


@strawberry.type(
    description=(
        "Result of createCustomerSubscription, updateCustomerSubscription and"
        " endCustomerSubscription."
    )
)
class CustomerSubscriptionPayload(Payload):
    subscription: CustomerSubscription | None = strawberry.field(
        default=None, description="The subscription as saved."
    )


@strawberry.type(description="Result of recordUsage.")
class RecordUsagePayload(Payload):
    usage_record: UsageRecord | None = strawberry.field(
        default=None, description="The record; the first one sent if this was a duplicate."
    )
    duplicate: bool = strawberry.field(
        default=False, description="The reference was recorded before: nothing new was stored."
    )


@strawberry.type(description="Result of recordUsageBatch.")
class RecordUsageBatchPayload(Payload):
    usage_records: list[UsageRecord] = strawberry.field(
        default_factory=list, description="The records, in the order sent."
    )
    duplicates: int = strawberry.field(
        default=0, description="How many were recorded before and not stored again."
    )


def _usage(item: RecordUsageInput) -> subscriptions.NewUsage:
    return subscriptions.NewUsage(
        customer_id=decode_id(item.customer_id, "Customer", field="customerId"),
        product_id=decode_id(item.product_id, "Product", field="productId"),
        quantity=item.quantity,
        occurred_at=item.occurred_at,
        reference=item.reference,
    )


def _subscription_payload(row: models.Subscription) -> CustomerSubscriptionPayload:
    return CustomerSubscriptionPayload(subscription=CustomerSubscription.from_model(row))


@strawberry.type
class SubscriptionQueries:
    @strawberry.field(
        permission_classes=[CanReadCustomers],
        description="Subscriptions, oldest first; of one customer if customerId is given.",
    )
    async def subscriptions(
        self,
        info: Info,
        customer_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this customer's.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> CustomerSubscriptionConnection:
        customer = decode_id(customer_id, "Customer", field="customerId") if customer_id else None
        return await resolve_connection(
            info,
            CustomerSubscriptionConnection,
            subscriptions.SubscriptionRepository,
            page_request(first, after),
            CustomerSubscription.from_model,
            lambda repo: repo.filtered(customer),
        )


@strawberry.type
class SubscriptionMutations:
    @strawberry.mutation(
        permission_classes=[CanWriteCustomers], description="Subscribe a customer to a product."
    )
    async def create_customer_subscription(
        self, info: Info, input: Annotated[CreateCustomerSubscriptionInput, INPUT]
    ) -> CustomerSubscriptionPayload:
        scope = info.context.scope

        async def create(session: AsyncSession) -> models.Subscription:
            data = subscriptions.NewSubscription(
                customer_id=decode_id(input.customer_id, "Customer", field="customerId"),
                product_id=decode_id(input.product_id, "Product", field="productId"),
                quantity=input.quantity,
                start_date=input.start_date,
                end_date=input.end_date,
            )
            return await subscriptions.create_subscription(session, scope, data)

        return await respond(info, CustomerSubscriptionPayload, create, _subscription_payload)

    @strawberry.mutation(
        permission_classes=[CanWriteCustomers],
        description="Change a subscription's quantity or end date (from the next billing run).",
    )
    async def update_customer_subscription(
        self, info: Info, input: Annotated[UpdateCustomerSubscriptionInput, INPUT]
    ) -> CustomerSubscriptionPayload:
        scope = info.context.scope

        async def update(session: AsyncSession) -> models.Subscription:
            id_ = decode_id(input.subscription_id, "CustomerSubscription", field="subscriptionId")
            return await subscriptions.update_subscription(
                session, scope, id_, input.quantity, input.end_date
            )

        return await respond(info, CustomerSubscriptionPayload, update, _subscription_payload)

    @strawberry.mutation(
        permission_classes=[CanWriteCustomers], description="End a subscription on a date."
    )
    async def end_customer_subscription(
        self, info: Info, input: Annotated[EndCustomerSubscriptionInput, INPUT]
    ) -> CustomerSubscriptionPayload:
        scope = info.context.scope

        async def end(session: AsyncSession) -> models.Subscription:
            id_ = decode_id(input.subscription_id, "CustomerSubscription", field="subscriptionId")
            return await subscriptions.end_subscription(session, scope, id_, input.end_date)

        return await respond(info, CustomerSubscriptionPayload, end, _subscription_payload)

    @strawberry.mutation(
        permission_classes=[CanWriteCustomers],
        description="Record usage; a reference sent before is not recorded again.",
    )
    async def record_usage(
        self, info: Info, input: Annotated[RecordUsageInput, INPUT]
    ) -> RecordUsagePayload:
        scope = info.context.scope

        async def record(session: AsyncSession) -> subscriptions.RecordedUsage:
            return (await subscriptions.record_usage(session, scope, [_usage(input)]))[0]

        return await respond(
            info,
            RecordUsagePayload,
            record,
            lambda done: RecordUsagePayload(
                usage_record=UsageRecord.from_model(done.record), duplicate=done.duplicate
            ),
        )

    @strawberry.mutation(
        permission_classes=[CanWriteCustomers],
        description="Record up to 1,000 usage records at once: all, or none if one is wrong.",
    )
    async def record_usage_batch(
        self, info: Info, input: Annotated[RecordUsageBatchInput, INPUT]
    ) -> RecordUsageBatchPayload:
        scope = info.context.scope

        async def record(session: AsyncSession) -> list[subscriptions.RecordedUsage]:
            return await subscriptions.record_usage(
                session, scope, [_usage(item) for item in input.records]
            )

        return await respond(
            info,
            RecordUsageBatchPayload,
            record,
            lambda done: RecordUsageBatchPayload(
                usage_records=[UsageRecord.from_model(d.record) for d in done],
                duplicates=sum(d.duplicate for d in done),
            ),
        )
