"""The catalog: vendors, products (their MSRP and cost are billing fields), exchange rates; and the
platform admins' mutations that change them."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from billing import models
from billing.catalog import Catalog, NewPrice, NewProduct
from db.pagination import PageRequest
from schema.context import Info
from schema.enums import described_enum
from schema.errors import Payload
from schema.money import Money
from schema.mutations import INPUT, respond
from schema.permissions import CanReadTenant, IsPlatformAdmin, billing_field
from schema.relay import (
    After,
    Before,
    Connection,
    First,
    Last,
    Node,
    decode_id,
    page_request,
    to_global_id,
)
from schema.scalars import CurrencyCode

ProductKind = described_enum(
    models.ProductKind,
    description="RECURRING: billed monthly per unit; USAGE: as recorded.",
    values={
        models.ProductKind.RECURRING: "Billed monthly per unit subscribed, prorated by days.",
        models.ProductKind.USAGE: "Billed for the usage recorded in the period.",
    },
)


@strawberry.type(description="A cloud vendor; each gets its own invoices.")
class Vendor(Node):
    name: str = strawberry.field(description="Vendor name, e.g. Microsoft.")

    @classmethod
    def from_model(cls, row: models.Vendor) -> Vendor:
        return cls(id=strawberry.ID(to_global_id("Vendor", row.id)), name=row.name)


@strawberry.type(description="A product's catalog prices in one currency.")
class ProductPrice:
    currency: CurrencyCode = strawberry.field(description="ISO 4217 code.")
    msrp: Money = strawberry.field(description="What customers pay unless a reseller sets a price.")
    cost: Money = strawberry.field(description="What resellers pay the platform.")


@strawberry.type(description="Something a vendor sells: subscribed to monthly, or used.")
class Product(Node):
    sku: str = strawberry.field(description="Stock keeping unit, unique on the platform.")
    name: str = strawberry.field(description="Product name.")
    unit: str = strawberry.field(description="What a quantity counts: seat, GB, hour.")
    kind: ProductKind = strawberry.field(description="RECURRING or USAGE.")
    base_currency: CurrencyCode = strawberry.field(
        description="Currency its prices are converted from."
    )
    vendor_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Who sells it.")
    async def vendor(self, info: Info) -> Vendor:
        row = await info.context.loaders.vendor_by_id.load(self.vendor_id)
        assert row is not None
        return Vendor.from_model(row)

    @billing_field(
        description="MSRP and cost in each currency the catalog lists.", reseller_own=True
    )
    async def prices(self, info: Info) -> list[ProductPrice] | None:
        rows = await info.context.loaders.prices_by_product_id.load(self.db_id)
        return [
            ProductPrice(
                currency=p.currency,
                msrp=Money.of(p.msrp, p.currency, exact=True),
                cost=Money.of(p.cost, p.currency, exact=True),
            )
            for p in rows or []
        ]

    db_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: models.Product) -> Product:
        return cls(
            id=strawberry.ID(to_global_id("Product", row.id)),
            sku=row.sku,
            name=row.name,
            unit=row.unit,
            kind=row.kind,
            base_currency=row.base_currency,
            vendor_id=row.vendor_id,
            db_id=row.id,
        )


@strawberry.type(description="1 base = rate quote, from its date until a later one.")
class ExchangeRate:
    base: CurrencyCode = strawberry.field(description="Currency converted from.")
    quote: CurrencyCode = strawberry.field(description="Currency converted to.")
    rate: Decimal = strawberry.field(description="Units of quote per unit of base.")
    date: date = strawberry.field(description="First day the rate applies.")

    @classmethod
    def from_model(cls, row: models.ExchangeRate) -> ExchangeRate:
        return cls(base=row.base, quote=row.quote, rate=row.rate, date=row.rate_date)


@strawberry.type(description="A page of products.")
class ProductConnection(Connection[Product]):
    pass


@strawberry.input(description="A product's MSRP and cost in one currency.")
class ProductPriceInput:
    currency: CurrencyCode = strawberry.field(description="ISO 4217 code.")
    msrp: Decimal = strawberry.field(description="Price to customers, at most 6 decimals.")
    cost: Decimal = strawberry.field(description="Price to resellers, at most 6 decimals.")


@strawberry.input(description="A new vendor.")
class CreateVendorInput:
    name: str = strawberry.field(description="Unique vendor name.")


@strawberry.input(description="A new product; prices must include its base currency.")
class CreateProductInput:
    vendor_id: strawberry.ID = strawberry.field(description="The vendor selling it.")
    sku: str = strawberry.field(description="Unique SKU: letters, digits, '.', '_', '-'.")
    name: str = strawberry.field(description="Product name.")
    unit: str = strawberry.field(description="What a quantity counts.")
    kind: ProductKind = strawberry.field(description="RECURRING or USAGE.")
    base_currency: CurrencyCode = strawberry.field(description="ISO 4217 code prices convert from.")
    prices: list[ProductPriceInput] = strawberry.field(description="MSRP and cost per currency.")


@strawberry.input(description="Add or replace a product's prices in the currencies given.")
class SetProductPricesInput:
    product_id: strawberry.ID = strawberry.field(description="The product.")
    prices: list[ProductPriceInput] = strawberry.field(description="MSRP and cost per currency.")


@strawberry.input(description="Publish the rate of a currency pair from a date on.")
class SetExchangeRateInput:
    base: CurrencyCode = strawberry.field(description="Currency converted from.")
    quote: CurrencyCode = strawberry.field(description="Currency converted to.")
    rate: Decimal = strawberry.field(description="Units of quote per unit of base (> 0).")
    date: date = strawberry.field(description="First day the rate applies.")


@strawberry.type(description="Result of createVendor.")
class CreateVendorPayload(Payload):
    vendor: Vendor | None = strawberry.field(default=None, description="The new vendor.")


@strawberry.type(description="Result of createProduct and setProductPrices.")
class ProductPayload(Payload):
    product: Product | None = strawberry.field(default=None, description="The product.")


@strawberry.type(description="Result of setExchangeRate.")
class SetExchangeRatePayload(Payload):
    exchange_rate: ExchangeRate | None = strawberry.field(
        default=None, description="The rate as stored."
    )


def _prices(prices: list[ProductPriceInput]) -> list[NewPrice]:
    return [NewPrice(p.currency, p.msrp, p.cost) for p in prices]


@strawberry.type
class CatalogQueries:
    @strawberry.field(permission_classes=[CanReadTenant], description="Every vendor, by name.")
    async def vendors(self, info: Info) -> list[Vendor]:
        async with info.context.read() as session:
            return [Vendor.from_model(v) for v in await Catalog(session).vendors()]

    @strawberry.field(
        permission_classes=[CanReadTenant], description="The catalog's products, oldest first."
    )
    async def products(
        self,
        info: Info,
        vendor_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this vendor's products.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> ProductConnection:
        request: PageRequest = page_request(first, after, last, before)
        vendor = decode_id(vendor_id, "Vendor", field="vendorId") if vendor_id else None
        async with info.context.read() as session:
            catalog = Catalog(session)
            statement = catalog.products(vendor)
            page = await catalog.product_page(request, statement)

        async def total() -> int:
            async with info.context.read() as session:
                return await Catalog(session).count(statement)

        return ProductConnection.of(page, Product.from_model, total)

    @strawberry.field(
        permission_classes=[CanReadTenant],
        description="Published exchange rates, newest first (at most 500).",
    )
    async def exchange_rates(
        self,
        info: Info,
        base: Annotated[
            CurrencyCode | None, strawberry.argument(description="Only rates from this currency.")
        ] = None,
        quote: Annotated[
            CurrencyCode | None, strawberry.argument(description="Only rates to this currency.")
        ] = None,
    ) -> list[ExchangeRate]:
        async with info.context.read() as session:
            return [ExchangeRate.from_model(r) for r in await Catalog(session).rates(base, quote)]


@strawberry.type
class CatalogMutations:
    @strawberry.mutation(permission_classes=[IsPlatformAdmin], description="Add a vendor.")
    async def create_vendor(
        self, info: Info, input: Annotated[CreateVendorInput, INPUT]
    ) -> CreateVendorPayload:
        async def create(session: AsyncSession) -> models.Vendor:
            return await Catalog(session).create_vendor(input.name)

        return await respond(
            info,
            CreateVendorPayload,
            create,
            lambda row: CreateVendorPayload(vendor=Vendor.from_model(row)),
        )

    @strawberry.mutation(permission_classes=[IsPlatformAdmin], description="Add a product.")
    async def create_product(
        self, info: Info, input: Annotated[CreateProductInput, INPUT]
    ) -> ProductPayload:
        async def create(session: AsyncSession) -> models.Product:
            data = NewProduct(
                vendor_id=decode_id(input.vendor_id, "Vendor", field="vendorId"),
                sku=input.sku,
                name=input.name,
                unit=input.unit,
                kind=input.kind,
                base_currency=input.base_currency,
                prices=_prices(input.prices),
            )
            return await Catalog(session).create_product(data)

        return await respond(
            info,
            ProductPayload,
            create,
            lambda row: ProductPayload(product=Product.from_model(row)),
        )

    @strawberry.mutation(
        permission_classes=[IsPlatformAdmin],
        description="Add or replace a product's MSRP and cost in some currencies.",
    )
    async def set_product_prices(
        self, info: Info, input: Annotated[SetProductPricesInput, INPUT]
    ) -> ProductPayload:
        async def update(session: AsyncSession) -> models.Product:
            product_id = decode_id(input.product_id, "Product", field="productId")
            return await Catalog(session).set_product_prices(product_id, _prices(input.prices))

        return await respond(
            info,
            ProductPayload,
            update,
            lambda row: ProductPayload(product=Product.from_model(row)),
        )

    @strawberry.mutation(
        permission_classes=[IsPlatformAdmin],
        description="Publish (or correct) an exchange rate from a date on.",
    )
    async def set_exchange_rate(
        self, info: Info, input: Annotated[SetExchangeRateInput, INPUT]
    ) -> SetExchangeRatePayload:
        async def publish(session: AsyncSession) -> models.ExchangeRate:
            return await Catalog(session).set_exchange_rate(
                input.base, input.quote, input.rate, input.date
            )

        return await respond(
            info,
            SetExchangeRatePayload,
            publish,
            lambda row: SetExchangeRatePayload(exchange_rate=ExchangeRate.from_model(row)),
        )
