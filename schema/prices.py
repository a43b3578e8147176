"""A reseller's prices: overrides (setPrice, removePrice, priceOverrides) and effectivePrice."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from billing import models, prices
from schema.catalog import Product
from schema.context import Info
from schema.customers import Customer
from schema.enums import described_enum
from schema.errors import Payload
from schema.money import Money
from schema.mutations import INPUT, respond
from schema.permissions import billing_field, billing_mutation
from schema.relay import Node, decode_id, to_global_id
from schema.scalars import CurrencyCode

PriceSource = described_enum(
    models.PriceSource,
    description=(
        "Where a price came from: an override for the customer, one for all the reseller's"
        " customers, the MSRP in the customer's currency, or the MSRP converted from the"
        " product's base currency; COST and CONVERTED_COST on the platform's invoices."
    ),
    values={
        models.PriceSource.CUSTOMER_OVERRIDE: "The reseller's price for this customer.",
        models.PriceSource.RESELLER_OVERRIDE: "The reseller's price for all its customers.",
        models.PriceSource.MSRP: "The catalog's MSRP in the customer's currency.",
        models.PriceSource.CONVERTED_MSRP: "The MSRP converted from the product's base currency.",
        models.PriceSource.COST: "The reseller's cost price (the platform's invoices).",
        models.PriceSource.CONVERTED_COST: "The cost price converted from the base currency.",
    },
)


@strawberry.type(description="A reseller's own price of a product, for one customer or all.")
class PriceOverride(Node):
    currency: CurrencyCode = strawberry.field(description="Applies to customers billed in it.")
    price: Money | None = strawberry.field(description="A fixed unit price, if set so.")
    markup_percent: Decimal | None = strawberry.field(
        description="Percent over the product's cost, if set so."
    )
    product_id: strawberry.Private[uuid.UUID]
    customer_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The product priced.")
    async def product(self, info: Info) -> Product | None:
        row = await info.context.loaders.product_by_id.load(self.product_id)
        return Product.from_model(row) if row else None

    @strawberry.field(description="The customer it is for; null: every customer.")
    async def customer(self, info: Info) -> Customer | None:
        if self.customer_id is None:
            return None
        row = await info.context.loaders.customer_by_id.load(self.customer_id)
        return Customer.from_model(row) if row else None

    @classmethod
    def from_model(cls, row: models.PriceOverride) -> PriceOverride:
        return cls(
            id=strawberry.ID(to_global_id("PriceOverride", row.id)),
            currency=row.currency,
            price=Money.of(row.price, row.currency, exact=True) if row.price is not None else None,
            markup_percent=row.markup_percent,
            product_id=row.product_id,
            customer_id=row.customer_id,
        )


@strawberry.type(description="The unit price a customer pays for a product today, and why.")
class EffectivePrice:
    price: Money = strawberry.field(description="Unit price in the customer's currency.")
    source: PriceSource = strawberry.field(description="Which rule gave the price.")
    cost: Money = strawberry.field(description="What the reseller pays per unit.")
    margin: Money = strawberry.field(description="Price minus cost, per unit.")

    @classmethod
    def of(cls, found: prices.EffectivePrice) -> EffectivePrice:
        currency = found.price.currency
        return cls(
            price=Money.of(found.price.amount, currency, exact=True),
            source=found.price.source,
            cost=Money.of(found.cost.amount, currency, exact=True),
            margin=Money.of(found.margin, currency, exact=True),
        )


@strawberry.input(description="Set a price: give exactly one of price and markupPercent.")
class SetPriceInput:
    product_id: strawberry.ID = strawberry.field(description="The product.")
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="One customer; omit for every customer of the reseller."
    )
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform admins setting a reseller-wide price name it."
    )
    currency: CurrencyCode = strawberry.field(description="Customers billed in it get this price.")
    price: Decimal | None = strawberry.field(default=None, description="Fixed unit price.")
    markup_percent: Decimal | None = strawberry.field(
        default=None, description="Percent over cost, 0 to 1000."
    )


@strawberry.input(description="Remove a price override: the next rule applies again.")
class RemovePriceInput:
    product_id: strawberry.ID = strawberry.field(description="The product.")
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="The customer; omit for the reseller-wide price."
    )
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform admins removing a reseller-wide price name it."
    )
    currency: CurrencyCode = strawberry.field(description="The override's currency.")


@strawberry.type(description="Result of setPrice.")
class SetPricePayload(Payload):
    price_override: PriceOverride | None = strawberry.field(
        default=None, description="The override as stored."
    )


@strawberry.type(description="Result of removePrice.")
class RemovePricePayload(Payload):
    removed_price_override_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id of the override removed."
    )


def _optional(global_id: strawberry.ID | None, type_name: str, field: str) -> uuid.UUID | None:
    return None if global_id is None else decode_id(global_id, type_name, field=field)


@strawberry.type
class PriceQueries:
    @billing_field(
        description="The unit price a customer pays for a product today, with its source.",
        reseller_own=True,
    )
    async def effective_price(
        self,
        info: Info,
        product_id: Annotated[strawberry.ID, strawberry.argument(description="The product.")],
        customer_id: Annotated[
            strawberry.ID, strawberry.argument(description="The customer who pays it.")
        ],
    ) -> EffectivePrice | None:
        product = decode_id(product_id, "Product", field="productId")
        customer = decode_id(customer_id, "Customer", field="customerId")
        async with info.context.read() as session:
            found = await prices.effective_price(session, info.context.scope, product, customer)
        return EffectivePrice.of(found)

    @billing_field(
        description="The reseller's price overrides, optionally of one product or customer.",
        reseller_own=True,
    )
    async def price_overrides(
        self,
        info: Info,
        product_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this product's overrides.")
        ] = None,
        customer_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only the overrides for this customer."),
        ] = None,
    ) -> list[PriceOverride] | None:
        product = _optional(product_id, "Product", "productId")
        customer = _optional(customer_id, "Customer", "customerId")
        async with info.context.read() as session:
            repo = prices.PriceOverrideRepository(session, info.context.scope)
            statement = repo.filtered(product, customer).order_by(models.PriceOverride.id)
            rows = (await session.scalars(statement.limit(1000))).all()
        return [PriceOverride.from_model(row) for row in rows]


@strawberry.type
class PriceMutations:
    @billing_mutation(
        description="Set a product's price for one customer or all of a reseller's customers.",
    )
    async def set_price(
        self, info: Info, input: Annotated[SetPriceInput, INPUT]
    ) -> SetPricePayload:
        scope = info.context.scope

        async def set_(session: AsyncSession) -> models.PriceOverride:
            data = prices.NewOverride(
                product_id=decode_id(input.product_id, "Product", field="productId"),
                currency=input.currency,
                customer_id=_optional(input.customer_id, "Customer", "customerId"),
                reseller_id=_optional(input.reseller_id, "Reseller", "resellerId"),
                price=input.price,
                markup_percent=input.markup_percent,
            )
            return await prices.set_price(session, scope, data)

        return await respond(
            info,
            SetPricePayload,
            set_,
            lambda row: SetPricePayload(price_override=PriceOverride.from_model(row)),
        )

    @billing_mutation(description="Remove a price.")
    async def remove_price(
        self, info: Info, input: Annotated[RemovePriceInput, INPUT]
    ) -> RemovePricePayload:
        scope = info.context.scope

        async def remove(session: AsyncSession) -> models.PriceOverride:
            return await prices.remove_price(
                session,
                scope,
                decode_id(input.product_id, "Product", field="productId"),
                input.currency,
                _optional(input.customer_id, "Customer", "customerId"),
                _optional(input.reseller_id, "Reseller", "resellerId"),
            )

        return await respond(
            info,
            RemovePricePayload,
            remove,
            lambda row: RemovePricePayload(
                removed_price_override_id=strawberry.ID(to_global_id("PriceOverride", row.id))
            ),
        )
