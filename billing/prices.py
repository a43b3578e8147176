"""A reseller's prices, and which price applies to a customer's line.

Resolution, first that exists (domain.md): an override for this customer -> a reseller-wide
override -> MSRP in the customer's currency -> MSRP in the product's base currency converted at the
rate of the period's end. An override is for customers billed in its currency: a fixed price, or a
markup percent over the product's cost in that currency. Wholesale lines use the cost the same way.

``PriceBook`` holds everything one billing run needs, loaded in a few queries, so resolving the
price of 50,000 lines costs dictionary lookups, not queries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, delete
from sqlalchemy.ext.asyncio import AsyncSession

from billing.bounds import checked
from billing.catalog import Catalog, amount
from billing.models import PriceOverride, PriceSource, Product, ProductPrice
from billing.rates import RateTable
from core.clock import utcnow
from core.currency import normalize_currency
from core.errors import NotFound, ValidationFailed
from core.ids import new_id
from db.scope import TenantScope
from tenants.models import Customer
from tenants.repositories import CustomerRepository, ResellerRepository, ScopedRepository

UNIT_PLACES = Decimal("1e-6")
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class UnitPrice:
    amount: Decimal
    currency: str
    source: PriceSource


class PriceOverrideRepository(ScopedRepository[PriceOverride]):
    model = PriceOverride

    def filtered(
        self, product_id: uuid.UUID | None = None, customer_id: uuid.UUID | None = None
    ) -> Select[Any]:
        statement = self.select()
        if product_id is not None:
            statement = statement.where(PriceOverride.product_id == product_id)
        if customer_id is not None:
            statement = statement.where(PriceOverride.customer_id == customer_id)
        return statement

    async def of_resellers(self, reseller_ids: Iterable[uuid.UUID]) -> Sequence[PriceOverride]:
        wanted = list(set(reseller_ids))
        return (
            await self.session.scalars(self.select().where(PriceOverride.reseller_id.in_(wanted)))
        ).all()

    async def find(
        self,
        reseller_id: uuid.UUID,
        product_id: uuid.UUID,
        customer_id: uuid.UUID | None,
        currency: str,
    ) -> PriceOverride | None:
        customer = (
            PriceOverride.customer_id.is_(None)
            if customer_id is None
            else PriceOverride.customer_id == customer_id
        )
        statement = self.select().where(
            PriceOverride.reseller_id == reseller_id,
            PriceOverride.product_id == product_id,
            PriceOverride.currency == currency,
            customer,
        )
        return (await self.session.scalars(statement)).first()


class PriceList(dict[uuid.UUID, UnitPrice]):
    """Prices by product id, resolved once each, on first use (a missing rate raises then)."""

    def __init__(self, resolve: Callable[[uuid.UUID], UnitPrice]) -> None:
        super().__init__()
        self._resolve = resolve

    def __missing__(self, product_id: uuid.UUID) -> UnitPrice:
        price = self[product_id] = self._resolve(product_id)
        return price


class PriceBook:
    """Catalog prices, overrides and rates for one billing date, resolved without queries."""

    def __init__(
        self,
        products: dict[uuid.UUID, Product],
        prices: dict[uuid.UUID, list[ProductPrice]],
        overrides: Iterable[PriceOverride],
        rates: RateTable,
    ) -> None:
        self.products = products
        self.rates = rates
        self._prices = {(p.product_id, p.currency): p for rows in prices.values() for p in rows}
        self._overrides = {
            (o.reseller_id, o.customer_id, o.product_id, o.currency): o for o in overrides
        }
        self._own_prices = {o.customer_id for o in self._overrides.values() if o.customer_id}
        self._lists: dict[tuple[Any, ...], PriceList] = {}

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        scope: TenantScope,
        product_ids: Iterable[uuid.UUID],
        reseller_ids: Iterable[uuid.UUID],
        on: date,
    ) -> PriceBook:
        catalog = Catalog(session)
        wanted = list(set(product_ids))
        products = await catalog.products_by_ids(wanted)
        prices = await catalog.prices_by_product_ids(wanted)
        overrides = await PriceOverrideRepository(session, scope).of_resellers(reseller_ids)
        return cls(products, prices, overrides, await RateTable.load(session, on))

    def _catalog(self, product_id: uuid.UUID, currency: str, what: str) -> tuple[Decimal, bool]:
        """The product's MSRP or cost in ``currency``, and whether it had to be converted.

        Raises RateUnavailable, or AmountOutOfRange when a large rate makes the price too big to
        store (or to round: beyond 10^22 ``quantize`` itself fails)."""
        own = self._prices.get((product_id, currency))
        if own is not None:
            return getattr(own, what), False
        product = self.products[product_id]
        base = self._prices[(product_id, product.base_currency)]
        rate = self.rates.get(product.base_currency, currency)
        converted = checked(getattr(base, what) * rate.rate, _named(what, currency))
        return converted.quantize(UNIT_PLACES), True

    def cost(self, product_id: uuid.UUID, currency: str) -> UnitPrice:
        value, converted = self._catalog(product_id, currency, "cost")
        source = PriceSource.CONVERTED_COST if converted else PriceSource.COST
        return UnitPrice(value, currency, source)

    def retail(
        self,
        reseller_id: uuid.UUID,
        customer_id: uuid.UUID | None,
        product_id: uuid.UUID,
        currency: str,
    ) -> UnitPrice:
        """The price of one unit for this customer (None: for any customer without an override
        of its own)."""
        if customer_id is not None:
            override = self._overrides.get((reseller_id, customer_id, product_id, currency))
            if override is not None:
                return UnitPrice(
                    self._override_price(override), currency, PriceSource.CUSTOMER_OVERRIDE
                )
        override = self._overrides.get((reseller_id, None, product_id, currency))
        if override is not None:
            return UnitPrice(
                self._override_price(override), currency, PriceSource.RESELLER_OVERRIDE
            )
        value, converted = self._catalog(product_id, currency, "msrp")
        return UnitPrice(
            value, currency, PriceSource.CONVERTED_MSRP if converted else PriceSource.MSRP
        )

    def retail_list(
        self, reseller_id: uuid.UUID, customer_id: uuid.UUID, currency: str
    ) -> PriceList:
        """This customer's prices by product id, each resolved on first use. Customers without
        an override of their own share one list per reseller and currency."""
        who = customer_id if customer_id in self._own_prices else None
        key = (reseller_id, who, currency)
        found = self._lists.get(key)
        if found is None:
            found = self._lists[key] = PriceList(
                lambda product_id: self.retail(reseller_id, who, product_id, currency)
            )
        return found

    def cost_list(self, currency: str) -> PriceList:
        """Wholesale prices in ``currency`` by product id, each resolved on first use."""
        key = (None, None, currency)
        found = self._lists.get(key)
        if found is None:
            found = self._lists[key] = PriceList(lambda product_id: self.cost(product_id, currency))
        return found

    def _override_price(self, override: PriceOverride) -> Decimal:
        if override.price is not None:
            return override.price
        cost, _ = self._catalog(override.product_id, override.currency, "cost")
        markup = override.markup_percent or Decimal(0)
        price = checked(cost * (HUNDRED + markup) / HUNDRED, _named("price", override.currency))
        return price.quantize(UNIT_PLACES)


def _named(what: str, currency: str) -> str:
    return f"the {'MSRP' if what == 'msrp' else what} in {currency}"


@dataclass(frozen=True, slots=True)
class EffectivePrice:
    product_id: uuid.UUID
    customer_id: uuid.UUID
    price: UnitPrice
    cost: UnitPrice

    @property
    def margin(self) -> Decimal:
        return self.price.amount - self.cost.amount


async def effective_price(
    session: AsyncSession,
    scope: TenantScope,
    product_id: uuid.UUID,
    customer_id: uuid.UUID,
    on: date | None = None,
) -> EffectivePrice:
    """What ``customer_id`` would pay today for one unit of ``product_id``, and why."""
    customer = await CustomerRepository(session, scope).get(customer_id)
    if customer is None:
        raise NotFound("customer", field="customerId")
    on = on or utcnow().date()
    book = await PriceBook.load(session, scope, [product_id], [customer.reseller_id], on)
    if product_id not in book.products:
        raise NotFound("product", field="productId")
    price = book.retail(customer.reseller_id, customer.id, product_id, customer.currency)
    return EffectivePrice(product_id, customer.id, price, book.cost(product_id, customer.currency))


@dataclass(frozen=True, slots=True)
class NewOverride:
    product_id: uuid.UUID
    currency: str
    customer_id: uuid.UUID | None = None
    reseller_id: uuid.UUID | None = None  # platform admins name it when no customer is given
    price: Decimal | None = None
    markup_percent: Decimal | None = None


async def _target(
    session: AsyncSession,
    scope: TenantScope,
    customer_id: uuid.UUID | None,
    reseller_id: uuid.UUID | None,
) -> tuple[uuid.UUID, Customer | None]:
    """The reseller whose price it is: the customer's, the caller's own, or the one a platform
    admin names. A ``reseller_id`` naming any other is refused, never quietly replaced."""
    if customer_id is not None:
        customer = await CustomerRepository(session, scope).get(customer_id)
        if customer is None:
            raise NotFound("customer", field="customerId")
        if reseller_id is not None and reseller_id != customer.reseller_id:
            raise NotFound("reseller", field="resellerId")
        return customer.reseller_id, customer
    if scope.reseller_id is not None:
        if reseller_id is not None and reseller_id != scope.reseller_id:
            raise NotFound("reseller", field="resellerId")
        return scope.reseller_id, None
    if reseller_id is None or not scope.allows(reseller_id):
        raise ValidationFailed(
            "name the reseller (or a customer) the price is for", field="resellerId"
        )
    if await ResellerRepository(session, scope).get(reseller_id) is None:
        raise NotFound("reseller", field="resellerId")
    return reseller_id, None


async def set_price(session: AsyncSession, scope: TenantScope, data: NewOverride) -> PriceOverride:
    """Create or replace the override of one product for one customer or the whole reseller."""
    currency = normalize_currency(data.currency)
    if (data.price is None) == (data.markup_percent is None):
        raise ValidationFailed("give either a price or a markupPercent", field="price")
    price = None if data.price is None else amount(data.price, field="price")
    markup = None
    if data.markup_percent is not None:
        markup = amount(data.markup_percent, field="markupPercent", places=4)
        if markup > 1000:
            raise ValidationFailed("markupPercent is at most 1000", field="markupPercent")
    reseller_id, customer = await _target(session, scope, data.customer_id, data.reseller_id)
    if customer is not None and customer.currency != currency:
        raise ValidationFailed(
            f"the customer is billed in {customer.currency}: a {currency} price would never apply",
            field="currency",
        )
    product = await session.get(Product, data.product_id)
    if product is None:
        raise NotFound("product", field="productId")
    repo = PriceOverrideRepository(session, scope)
    row = await repo.find(reseller_id, product.id, data.customer_id, currency)
    if row is None:
        row = repo.add(
            PriceOverride(
                reseller_id=reseller_id,
                id=new_id(),
                product_id=product.id,
                customer_id=data.customer_id,
                currency=currency,
            )
        )
    row.price, row.markup_percent = price, markup
    await session.flush()
    return row


async def remove_price(
    session: AsyncSession,
    scope: TenantScope,
    product_id: uuid.UUID,
    currency: str,
    customer_id: uuid.UUID | None = None,
    reseller_id: uuid.UUID | None = None,
) -> PriceOverride:
    """Delete an override: the next price down the resolution order applies again."""
    currency = normalize_currency(currency)
    tenant, _ = await _target(session, scope, customer_id, reseller_id)
    row = await PriceOverrideRepository(session, scope).find(
        tenant, product_id, customer_id, currency
    )
    if row is None:
        raise NotFound("price", field="productId")
    await session.execute(
        delete(PriceOverride).where(
            PriceOverride.reseller_id == row.reseller_id, PriceOverride.id == row.id
        )
    )
    return row
