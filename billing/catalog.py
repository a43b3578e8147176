"""The platform's catalog: vendors, products with their MSRP and cost per currency, and exchange
rates. Platform admins change it; everyone who reads the tenant reads it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import ExchangeRate, Product, ProductKind, ProductPrice, Vendor
from billing.rates import check_rate
from core.currency import normalize_currency
from core.errors import ErrorCode, NotFound, ValidationFailed
from core.ids import new_id
from core.validation import bounded_decimal, required_text
from db.pagination import Page, PageRequest, count, keyset_page

ZERO = Decimal(0)
_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class NewPrice:
    currency: str
    msrp: Decimal
    cost: Decimal


@dataclass(frozen=True, slots=True)
class NewProduct:
    vendor_id: uuid.UUID
    sku: str
    name: str
    unit: str
    kind: ProductKind
    base_currency: str
    prices: Sequence[NewPrice]


def amount(value: Decimal, *, field: str, places: int = 6) -> Decimal:
    """A price or quantity: finite, not negative, at most ``places`` decimals and 13 digits before
    the point (the columns are NUMERIC(20, 6), with room for a quantity times a price)."""
    if not isinstance(value, Decimal):
        raise ValidationFailed(f"{field} must be a number of at least 0", field=field)
    return bounded_decimal(value, field=field, digits=13 + places, places=places, minimum=ZERO)


class Catalog:
    """All SQL about vendors, products, their prices and exchange rates."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def vendors(self) -> Sequence[Vendor]:
        return (await self.session.scalars(select(Vendor).order_by(Vendor.name))).all()

    async def vendors_by_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Vendor]:
        rows = await self.session.scalars(select(Vendor).where(Vendor.id.in_(list(set(ids)))))
        return {row.id: row for row in rows}

    async def products_by_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Product]:
        rows = await self.session.scalars(select(Product).where(Product.id.in_(list(set(ids)))))
        return {row.id: row for row in rows}

    async def prices_by_product_ids(
        self, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[ProductPrice]]:
        wanted = list(set(ids))
        found: dict[uuid.UUID, list[ProductPrice]] = {id_: [] for id_ in wanted}
        rows = await self.session.scalars(
            select(ProductPrice)
            .where(ProductPrice.product_id.in_(wanted))
            .order_by(ProductPrice.currency)
        )
        for row in rows:
            found[row.product_id].append(row)
        return found

    def products(self, vendor_id: uuid.UUID | None = None) -> Select[Any]:
        statement = select(Product)
        if vendor_id is not None:
            statement = statement.where(Product.vendor_id == vendor_id)
        return statement

    async def product_page(self, request: PageRequest, statement: Select[Any]) -> Page[Product]:
        return await keyset_page(self.session, statement, Product.id, request)

    async def count(self, statement: Select[Any]) -> int:
        return await count(self.session, statement)

    async def rates(
        self, base: str | None = None, quote: str | None = None
    ) -> Sequence[ExchangeRate]:
        statement = select(ExchangeRate)
        if base:
            statement = statement.where(ExchangeRate.base == base.upper())
        if quote:
            statement = statement.where(ExchangeRate.quote == quote.upper())
        order = (ExchangeRate.rate_date.desc(), ExchangeRate.base, ExchangeRate.quote)
        return (await self.session.scalars(statement.order_by(*order).limit(500))).all()

    # Changes: platform admins only (the API says so) ------------------------------------------

    async def create_vendor(self, name: str) -> Vendor:
        clean = required_text(name, field="name")
        if await self.session.scalar(select(Vendor.id).where(Vendor.name == clean)) is not None:
            raise ValidationFailed(
                "a vendor of that name exists", field="name", code=ErrorCode.TAKEN
            )
        vendor = Vendor(id=new_id(), name=clean)
        self.session.add(vendor)
        await self.session.flush()
        return vendor

    async def create_product(self, data: NewProduct) -> Product:
        if await self.session.get(Vendor, data.vendor_id) is None:
            raise NotFound("vendor", field="vendorId")
        sku = (data.sku or "").strip()
        if not _SKU.match(sku):
            raise ValidationFailed("sku may hold letters, digits, '.', '_' and '-'", field="sku")
        if await self.session.scalar(select(Product.id).where(Product.sku == sku)) is not None:
            raise ValidationFailed(
                "a product with that sku exists", field="sku", code=ErrorCode.TAKEN
            )
        product = Product(
            id=new_id(),
            vendor_id=data.vendor_id,
            sku=sku,
            name=required_text(data.name, field="name"),
            unit=required_text(data.unit, field="unit", max_length=40),
            kind=data.kind,
            base_currency=normalize_currency(data.base_currency, field="baseCurrency"),
        )
        prices = self._clean_prices(data.prices)
        if product.base_currency not in prices:
            raise ValidationFailed(
                "give the MSRP and cost in the product's base currency", field="prices"
            )
        self.session.add(product)
        await self.session.flush()
        self.session.add_all(
            ProductPrice(product_id=product.id, currency=c, msrp=p.msrp, cost=p.cost)
            for c, p in prices.items()
        )
        await self.session.flush()
        return product

    async def set_product_prices(
        self, product_id: uuid.UUID, prices: Sequence[NewPrice]
    ) -> Product:
        """Add or replace the MSRP and cost in the currencies given; the others stay."""
        product = await self.session.get(Product, product_id)
        if product is None:
            raise NotFound("product", field="productId")
        cleaned = self._clean_prices(prices)
        existing = {
            p.currency: p for p in (await self.prices_by_product_ids([product.id]))[product.id]
        }
        for currency, price in cleaned.items():
            row = existing.get(currency)
            if row is None:
                self.session.add(
                    ProductPrice(
                        product_id=product.id, currency=currency, msrp=price.msrp, cost=price.cost
                    )
                )
            else:
                row.msrp, row.cost = price.msrp, price.cost
        await self.session.flush()
        return product

    def _clean_prices(self, prices: Sequence[NewPrice]) -> dict[str, NewPrice]:
        cleaned: dict[str, NewPrice] = {}
        for n, price in enumerate(prices):
            currency = normalize_currency(price.currency, field=f"prices.{n}.currency")
            if currency in cleaned:
                raise ValidationFailed(f"{currency} is given twice", field=f"prices.{n}.currency")
            cleaned[currency] = NewPrice(
                currency,
                amount(price.msrp, field=f"prices.{n}.msrp"),
                amount(price.cost, field=f"prices.{n}.cost"),
            )
        return cleaned

    async def set_exchange_rate(
        self, base: str, quote: str, rate: Decimal, rate_date: date
    ) -> ExchangeRate:
        """Publish (or correct) the rate of a pair from a date on."""
        base = normalize_currency(base, field="base")
        quote = normalize_currency(quote, field="quote")
        if base == quote:
            raise ValidationFailed("base and quote must differ", field="quote")
        rate = check_rate(rate)
        row = await self.session.get(ExchangeRate, (base, quote, rate_date))
        if row is None:
            row = ExchangeRate(base=base, quote=quote, rate_date=rate_date, rate=rate)
            self.session.add(row)
        else:
            row.rate = rate
        await self.session.flush()
        return row
