"""A small catalog for billing tests: two vendors, recurring and usage products, USD and EUR
prices, exchange rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billing.catalog import Catalog, NewPrice, NewProduct
from billing.models import ProductKind
from db.database import Database
from db.scope import TenantScope


@dataclass
class Shop:
    """The catalog: vendor and product ids by short name."""

    vendors: dict[str, object]
    products: dict[str, object]


async def make_catalog(db: Database) -> Shop:
    async with db.write(TenantScope.system()) as session:
        catalog = Catalog(session)
        microsoft = await catalog.create_vendor("Microsoft")
        aws = await catalog.create_vendor("AWS")
        specs = {
            # name: vendor, sku, unit, kind, base currency, [(currency, msrp, cost)]
            "m365": (
                microsoft,
                "MS-M365-BP",
                "seat",
                ProductKind.RECURRING,
                "USD",
                [("USD", "22.00", "17.60"), ("EUR", "20.60", "16.50")],
            ),
            "teams": (
                microsoft,
                "MS-TEAMS-ESS",
                "seat",
                ProductKind.RECURRING,
                "USD",
                [("USD", "4.00", "3.20")],
            ),
            "azure": (
                microsoft,
                "MS-AZURE-CU",
                "unit",
                ProductKind.USAGE,
                "USD",
                [("USD", "1.00", "0.85")],
            ),
            "s3": (aws, "AWS-S3-GB", "GB", ProductKind.USAGE, "USD", [("USD", "0.023", "0.019")]),
            "support": (
                aws,
                "AWS-SUPPORT-BIZ",
                "account",
                ProductKind.RECURRING,
                "USD",
                [("USD", "100.00", "80.00"), ("EUR", "95.00", "75.00")],
            ),
        }
        products = {}
        for name, (vendor, sku, unit, kind, base, prices) in specs.items():
            product = await catalog.create_product(
                NewProduct(
                    vendor_id=vendor.id,
                    sku=sku,
                    name=sku.replace("-", " ").title(),
                    unit=unit,
                    kind=kind,
                    base_currency=base,
                    prices=[NewPrice(c, Decimal(m), Decimal(k)) for c, m, k in prices],
                )
            )
            products[name] = product.id
        await catalog.set_exchange_rate("USD", "EUR", Decimal("0.9"), date(2026, 1, 1))
        await catalog.set_exchange_rate("USD", "GBP", Decimal("0.8"), date(2026, 1, 1))
        await catalog.set_exchange_rate("EUR", "USD", Decimal("1.08"), date(2026, 10, 1))
    return Shop(vendors={"microsoft": microsoft.id, "aws": aws.id}, products=products)
